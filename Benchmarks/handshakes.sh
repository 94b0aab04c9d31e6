#!/usr/bin/env bash
# Measures what it costs the relay to take on members, plain against TLS: `gamerelay bench
# --connections N` opens N control connections (--in-flight at a time), each connecting (and
# with TLS handshaking), saying hello, joining a session and closing, against one release relay
# (`gamerelay serve` on 127.0.0.1, ports picked by the kernel) that serves both on its control
# port. The relay's certificate comes from a throwaway PKI made here with the openssl command (a
# P-256 root, an intermediate and a leaf for IP 127.0.0.1; the relay sends leaf + intermediate,
# the bench trusts the root). Plain and TLS runs alternate, --rounds times each (plain first in
# odd rounds, TLS first in even ones), and the relay's CPU time comes from its process's
# CPU-time clock (--relay-pid), so "connections per relay CPU-second" is per core: the relay
# does this work on its control loop, one thread. Prints every run, then a table of the
# medians over the rounds:
#   connections/s       wall clock, first connect to last join reply; the generator's own
#                       handshakes (signature checks, key exchange) count here too
#   relay CPU / conn    the relay process's CPU time over the run per connection, in ms
#   conn / relay CPU-s  connections per second of relay CPU: the rate one relay core sustains
#   set-up p50 / p99    per connection, connect to join reply, with --in-flight at a time
#                       (mostly waiting in line: p50 is about in-flight / connections/s)
#   bench CPU / conn    the bench's own CPU time per connection, in ms; where this times
#                       connections/s nears 1000 ms/s, the bench's core, not the relay, set the
#                       wall-clock rate (the run is flagged "bench-bound")
# and the TLS / plain ratio of each column.
# With two or more cores (and taskset) the relay is pinned to core 0 and the bench to core 1;
# --no-pin leaves both to the scheduler. Loopback (127.0.0.1) only; stops itself after 300 s
# (the build, when it has to run, comes before that budget) and kills everything it started.
#
# Usage: Benchmarks/handshakes.sh [--relay-bin PATH] [--connections 1000] [--in-flight 64]
#            [--rounds 3] [--no-pin]
# Default relay binary: the release build of this checkout (built if missing).
# Set HANDSHAKES_KEEP=1 to keep the work directory (PKI, relay log, each run's JSON).
# Needs: swift (for the default binary), openssl, python3. Run from anywhere.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RELAY_BIN=""
CONNECTIONS=1000
IN_FLIGHT=64
ROUNDS=3
PIN=1

usage() { sed -n '/^# Usage:/,/^# Needs:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --relay-bin) RELAY_BIN="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --in-flight) IN_FLIGHT="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --no-pin) PIN=0; shift ;;
        -h|--help) usage ;;
        *) echo "handshakes.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ "$CONNECTIONS" =~ ^[0-9]+$ && "$IN_FLIGHT" =~ ^[0-9]+$ && "$ROUNDS" =~ ^[0-9]+$ ]] || usage
(( CONNECTIONS >= 1 && ROUNDS >= 1 )) || usage

command -v openssl >/dev/null || { echo "handshakes.sh: the openssl command is missing" >&2; exit 2; }
command -v python3 >/dev/null || { echo "handshakes.sh: python3 is missing" >&2; exit 2; }

WORK="$(mktemp -d /tmp/gamerelay-handshakes.XXXXXX)"
RELAY_PID=""
BENCH_PID=""
WATCHDOG_PID=""

# shellcheck source=lib/processes.sh
source "$REPO/Benchmarks/lib/processes.sh"

cleanup() {
    local status=$?
    stop_pid "$BENCH_PID" 2
    stop_pid "$RELAY_PID" 8
    stop_watchdog
    if [[ "${HANDSHAKES_KEEP:-0}" == 1 ]]; then
        echo "handshakes.sh: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "handshakes.sh: interrupted" >&2; exit 130' INT TERM

find_relay_bin handshakes.sh
BENCH_HELP="$("$RELAY_BIN" bench --help 2>&1 || true)"
grep -q -- '--connections' <<<"$BENCH_HELP" \
    || { echo "handshakes.sh: $RELAY_BIN has no bench --connections" >&2; exit 1; }

# The watchdog ends the script (and through the EXIT trap everything it started) at the budget.
BUDGET_SECONDS=300
start_watchdog handshakes.sh "$BUDGET_SECONDS"

RELAY_PIN=()
BENCH_PIN=()
if (( PIN == 1 )) && command -v taskset >/dev/null && (( $(nproc) >= 2 )); then
    RELAY_PIN=(taskset -c 0)
    BENCH_PIN=(taskset -c 1)
fi

# --- the throwaway PKI -------------------------------------------------------------------------
pki() {
    cd "$WORK"
    local key
    for key in root intermediate leaf; do
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key.key"
    done
    openssl req -x509 -new -key root.key -subj "/CN=GameRelay handshake bench root" -days 2 -out root.pem \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -key intermediate.key -subj "/CN=GameRelay handshake bench intermediate" -out intermediate.csr
    printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >intermediate.ext
    openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 \
        -extfile intermediate.ext -out intermediate.pem
    openssl req -new -key leaf.key -subj "/CN=127.0.0.1" -out leaf.csr
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >leaf.ext
    openssl x509 -req -in leaf.csr -CA intermediate.pem -CAkey intermediate.key -CAcreateserial -days 2 \
        -extfile leaf.ext -out leaf.pem
    cat leaf.pem intermediate.pem >chain.pem
    openssl verify -CAfile root.pem -untrusted intermediate.pem leaf.pem >/dev/null
}
( pki ) >"$WORK/pki.log" 2>&1 || { echo "handshakes.sh: making the PKI failed:" >&2; cat "$WORK/pki.log" >&2; exit 1; }

# --- the relay ---------------------------------------------------------------------------------
SERVE_ARGS=(serve --host 127.0.0.1 --port 0 --tls-cert "$WORK/chain.pem" --tls-key "$WORK/leaf.key" --log-level warning)
start_relay handshakes.sh "${RELAY_PIN[@]}" "$RELAY_BIN" "${SERVE_ARGS[@]}"

echo "== connection set-up, plain and TLS: $RELAY_BIN ${SERVE_ARGS[*]}"
echo "   relay pid $RELAY_PID, control 127.0.0.1:$PORT; $CONNECTIONS connections, $IN_FLIGHT in flight," \
     "$ROUNDS rounds; pinned: $( (( ${#RELAY_PIN[@]} )) && echo "relay core 0, bench core 1" || echo no)"

run_one() {
    local mode="$1" round="$2" extra=()
    [[ "$mode" == tls ]] && extra=(--ca "$WORK/root.pem")
    "${BENCH_PIN[@]}" "$RELAY_BIN" bench --relay "127.0.0.1:$PORT" --relay-pid "$RELAY_PID" \
        --connections "$CONNECTIONS" --in-flight "$IN_FLIGHT" "${extra[@]}" \
        --json "$WORK/$mode-$round.json" >"$WORK/$mode-$round.txt" 2>"$WORK/$mode-$round.err" &
    BENCH_PID=$!
    if ! wait "$BENCH_PID"; then
        BENCH_PID=""
        echo "handshakes.sh: the $mode run of round $round failed:" >&2
        cat "$WORK/$mode-$round.err" >&2
        exit 1
    fi
    BENCH_PID=""
    relay_alive || { echo "handshakes.sh: the relay died; its log:" >&2; tail -n 20 "$WORK/relay.log" >&2; exit 1; }
    python3 - "$WORK/$mode-$round.json" "$mode" "$round" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
busy = s["generatorCPUMillisPerConnection"] * s["connectionsPerSecond"] / 1000
print("   round %s %-5s %6.0f conn/s  relay CPU %.3f ms/conn  %5.0f conn per relay CPU-s  set-up p50 %.1f / p99 %.1f ms"
      "  bench CPU %.3f ms/conn (%.0f %% of its core)%s"
      % (sys.argv[3], sys.argv[2], s["connectionsPerSecond"], s["relayCPUMillisPerConnection"],
         s["connectionsPerRelayCPUSecond"], s["setUpP50Millis"], s["setUpP99Millis"],
         s["generatorCPUMillisPerConnection"], busy * 100, "  bench-bound" if busy > 0.85 else ""))
EOF
}

for round in $(seq "$ROUNDS"); do
    if (( round % 2 == 1 )); then order=(plain tls); else order=(tls plain); fi
    for mode in "${order[@]}"; do run_one "$mode" "$round"; done
done

python3 - "$WORK" "$ROUNDS" "$CONNECTIONS" <<'EOF'
import json, statistics, sys
work, rounds, connections = sys.argv[1], int(sys.argv[2]), sys.argv[3]
columns = [("connectionsPerSecond", "conn/s (wall)", "%.0f"),
           ("relayCPUMillisPerConnection", "relay CPU ms/conn", "%.3f"),
           ("connectionsPerRelayCPUSecond", "conn per relay CPU-s", "%.0f"),
           ("setUpP50Millis", "set-up p50 ms", "%.2f"),
           ("setUpP99Millis", "set-up p99 ms", "%.2f"),
           ("generatorCPUMillisPerConnection", "bench CPU ms/conn", "%.3f")]
medians = {}
for mode in ("plain", "tls"):
    runs = [json.load(open("%s/%s-%d.json" % (work, mode, r))) for r in range(1, rounds + 1)]
    medians[mode] = {key: statistics.median(run[key] for run in runs) for key, _, _ in columns}
    medians[mode]["range"] = {key: (min(run[key] for run in runs), max(run[key] for run in runs)) for key, _, _ in columns}
    hardware = runs[0].get("hardware", "")
print()
print("Medians of %d rounds, %s connections each (%s):" % (rounds, connections, hardware))
width = 21
print("mode".ljust(12) + "".join(title.rjust(width) for _, title, _ in columns))
for mode in ("plain", "tls"):
    print(mode.ljust(12) + "".join((fmt % medians[mode][key]).rjust(width) for key, _, fmt in columns))
print("TLS / plain".ljust(12) + "".join(("%.2f" % (medians["tls"][key] / medians["plain"][key])).rjust(width)
                                      if medians["plain"][key] else "n/a".rjust(width) for key, _, _ in columns))
print()
print("ranges over the rounds:")
for mode in ("plain", "tls"):
    print(mode.ljust(12) + "".join(((fmt + "–" + fmt) % medians[mode]["range"][key]).rjust(width) for key, _, fmt in columns))
EOF
