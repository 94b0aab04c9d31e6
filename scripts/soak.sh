#!/usr/bin/env bash
# Soak test: runs one relay (`gamerelay serve --threads N` on 127.0.0.1, ports picked by the
# kernel) for --duration seconds (default 600) under a standard valid load plus hostile traffic,
# then prints one table (markdown, ready for the README's "Reliability" section).
#   valid load      `gamerelay bench` from 127.0.0.1: 4 sessions × 8 members, 100 B DATA at 60/s
#                   each (fan-out 7), --duration seconds measured after a 2 s warm-up
#   hostile         scripts/soak.py, from the other loopback addresses 127.0.0.2 ... 127.0.0.10 (so
#                   the relay's per-source limits fall on it and never on the valid load), all at
#                   once through the warm-up and the measured window, each at a bounded rate:
#                   garbage datagrams (~3000/s: random bytes, valid-looking headers, BINDs with
#                   wrong tokens, DATA/PING spoofed as a real bound member); control floods (every
#                   5 s, 16 connections that each write 8000 pings and never read, closed after
#                   3 s, half with a reset); connection churn (connect/close, half a message, an
#                   oversize line, invalid JSON, the Flash policy request); session churn
#                   (create/join by code/kick/leave, guessed codes, sessions nobody joins, half
#                   of them 120 Hz tick sessions, join-and-leave of one session); a /metrics
#                   scrape every second; and WebSocket members from 127.0.0.10: a browser that
#                   stops reading while a native member sends it ~1000 B DATA at 200/s (15 s
#                   cycles); junk frames after an upgrade, 4/s (unmasked, reserved opcode, RSV
#                   bits, invalid UTF-8, text over 16384 bytes, binary over 1200 bytes, a 2^62-byte
#                   text frame, endless continuation fragments); bad upgrades, 3/s (a head over
#                   8192 bytes, wrong path, wrong version, bad key, and a valid one); 3 slow heads
#                   at a time (a byte every 0.5 s) and 2 connections at a time that announce a
#                   2^62-byte binary frame and go silent; a browser member flooding ~4000 binary
#                   DATA/s into its own session (20 s cycles) with a native member bound over UDP
#                   that counts what reaches it
# How to read the table:
#   loss, latency   the bench's figures for the valid members: hostile traffic should not move
#                   them (compare with a run of the same bench without it on the same machine)
#   RSS             relay VmRSS once the bench's members are joined and bound (right before the
#                   hostile traffic), its peak (sampled every 250 ms), and 10 s after all load
#                   stopped: the end should be back near the start. With --asan it is n/a (the
#                   sanitizer's quarantine keeps freed memory)
#   hostile rows    what each driver sent and what came back; rate_limited replies are the
#                   relay's limits at work, not failures. "answers from the relay" to garbage
#                   and "datagrams it should not have got" must be 0. WebSocket rows: the sink
#                   must show backlog drops with the browser still connected and RSS flat, and
#                   its native member must get no datagram (BIND_ACKs that answer its own BIND
#                   retries are counted apart: a slow machine makes those); junk
#                   frames close with 1002 (unmasked, reserved opcode or bits), 1007 (invalid
#                   UTF-8) or 1009 after message_too_large (text over 16384 bytes, fragments
#                   included: the close comes once about 16 KiB went out), while an oversize
#                   binary message is dropped and the connection goes on (`open`); bad upgrades
#                   get 431/404/426/400 and a close; slow heads are closed silently and silent
#                   binary frames with `closing` and 1001, both at the control idle timeout
#                   (30 s); "not as expected" must be 0. In the flood the native member gets at
#                   most the browser's member rate (240/s, ~252/s over a 20 s cycle with the
#                   1 s burst), "datagrams not from it" and what sockets that never proved a
#                   token got must be 0
#   counters        /metrics differences over the hostile phase: every drop reason, and every
#                   counter about limits, shedding, refusals, backlogs, closing, yields and pauses
#                   (whatever this relay exports)
#   end             a fresh hello must be answered, the relay must still run, and SIGTERM must
#                   end it with status 0 after its drain; with --asan, every AddressSanitizer or
#                   LeakSanitizer report in its stderr is printed (LeakSanitizer runs at exit)
# The relay runs with its defaults (the bench's members keep their control channels alive with
# a ping every 10 s, as clients must). Nothing is pinned: relay, bench and drivers share the
# machine's cores.
# Loopback (127.0.0.0/8) only; stops itself after --duration + 120 s at most (the build, when it
# has to run, comes before that budget) and kills everything it started.
#
# Usage: scripts/soak.sh [--duration SECONDS] [--relay-bin PATH] [--asan] [--threads N]
# Default relay binary: `swift build -c release --product gamerelay` of this checkout. --asan
# builds `--sanitize=address` into .build-asan and uses that binary.
# Set SOAK_KEEP=1 to keep the work directory (relay log, bench JSON, driver counts, /metrics).
# Needs: swift (unless --relay-bin), python3. Run from anywhere.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRIVER="$REPO/scripts/soak.py"
DURATION=600
RELAY_BIN=""
ASAN=0
THREADS=1
SESSIONS=4
MEMBERS=8
RATE=60
WARMUP=2
QUIET=10          # seconds after all load stopped before the last RSS sample
DRAIN_TIMEOUT=5   # the relay's default --drain-timeout

usage() { sed -n '/^# Usage:/,/^# Needs:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --duration) DURATION="${2:-}"; shift 2 ;;
        --relay-bin) RELAY_BIN="${2:-}"; shift 2 ;;
        --asan) ASAN=1; shift ;;
        --threads) THREADS="${2:-}"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "soak.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ "$DURATION" =~ ^[0-9]+$ ]] && (( DURATION >= 10 )) || { echo "soak.sh: --duration must be whole seconds, at least 10" >&2; exit 2; }
[[ "$THREADS" =~ ^[0-9]+$ ]] && (( THREADS >= 1 && THREADS <= 64 )) || { echo "soak.sh: --threads must be 1...64" >&2; exit 2; }
command -v python3 >/dev/null || { echo "soak.sh: python3 is missing" >&2; exit 2; }

WORK="$(mktemp -d /tmp/gamerelay-soak.XXXXXX)"
RELAY_PID=""
BENCH_PID=""
HOSTILE_PID=""
WATCHDOG_PID=""

# shellcheck source=../Benchmarks/lib/processes.sh
source "$REPO/Benchmarks/lib/processes.sh"

cleanup() {
    local status=$?
    stop_pid "$HOSTILE_PID" 12
    stop_pid "$BENCH_PID" 2
    stop_pid "$RELAY_PID" $(( DRAIN_TIMEOUT + 5 ))
    stop_watchdog
    if [[ "${SOAK_KEEP:-0}" == 1 ]]; then
        echo "soak.sh: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "soak.sh: interrupted" >&2; exit 130' INT TERM

# --- the binary --------------------------------------------------------------------------------
if [[ -n "$RELAY_BIN" ]]; then
    BUILD="given binary $RELAY_BIN"
    (( ASAN )) && BUILD="$BUILD (taken as built with AddressSanitizer)"
elif (( ASAN )); then
    echo "== building (release, AddressSanitizer, .build-asan)" >&2
    ( cd "$REPO" && swift build -c release --sanitize=address --product gamerelay --scratch-path .build-asan 2>&1 | tail -n 3 ) >&2
    RELAY_BIN="$(cd "$REPO" && swift build -c release --sanitize=address --scratch-path .build-asan --show-bin-path)/gamerelay"
    BUILD="release build with AddressSanitizer"
else
    echo "== building (release)" >&2
    ( cd "$REPO" && swift build -c release --product gamerelay 2>&1 | tail -n 3 ) >&2
    RELAY_BIN="$(cd "$REPO" && swift build -c release --show-bin-path)/gamerelay"
    BUILD="release build"
fi
[[ -x "$RELAY_BIN" ]] || { echo "soak.sh: no gamerelay binary at $RELAY_BIN" >&2; exit 1; }
RELAY_BIN="$(cd "$(dirname "$RELAY_BIN")" && pwd)/$(basename "$RELAY_BIN")"
cd "$WORK"

# The watchdog ends the script (and through the EXIT trap everything it started) at the budget.
BUDGET_SECONDS=$(( DURATION + 120 ))
start_watchdog soak.sh "$BUDGET_SECONDS"

now() { echo "$EPOCHREALTIME"; }
rss_kb() {
    local key value _
    while read -r key value _; do
        [[ "$key" == VmRSS: ]] && { echo "$value"; return; }
    done <"/proc/$1/status" 2>/dev/null
    echo 0
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# --- the relay ---------------------------------------------------------------------------------
RELAY_ENV=()
if (( ASAN )); then
    # detect_leaks=1: LeakSanitizer runs once, at exit (from atexit), so the relay has to end
    # through exit(): SIGTERM, the drain, then exit(0) does (and so does a second signal's
    # exit(1)); SIGKILL would not.
    # halt_on_error=0: go on after a report. For leaks this also leaves the exit status alone,
    # so it still tells how the relay ended, and the reports are counted from the log instead.
    # A memory error still ends the process once reported (recovering from one needs a build
    # with -sanitize-recover=address).
    # abort_on_error=0: an error that ends the process does so with _exit, not abort(): no core.
    # Reports go to stderr, which lands in the relay's log.
    RELAY_ENV=(env "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=0:print_summary=1")
fi
SERVE_ARGS=(serve --host 127.0.0.1 --port 0 --metrics-port 0 --threads "$THREADS")
"${RELAY_ENV[@]}" "$RELAY_BIN" "${SERVE_ARGS[@]}" >"$WORK/relay.out" 2>"$WORK/relay.log" &
RELAY_PID=$!
for _ in $(seq 600); do
    [[ -s "$WORK/relay.out" ]] && break
    relay_alive || break
    sleep 0.05
done
READY="$(head -n 1 "$WORK/relay.out" 2>/dev/null || true)"
read -r PORT UDP_PORT METRICS < <(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print(r["control"].rsplit(":", 1)[1], r["udp"].rsplit(":", 1)[1], r.get("metrics", "-"))' "$READY" 2>/dev/null || true) || true
if [[ -z "${PORT:-}" || -z "${UDP_PORT:-}" ]]; then
    echo "soak.sh: the relay did not report its ports; its output and log:" >&2
    cat "$WORK/relay.out" >&2; tail -n 20 "$WORK/relay.log" >&2
    exit 1
fi
# The metrics port: from the readiness line if it carries one, else the `listening` log line
# (metrics=127.0.0.1:PORT), else the relay's other listening TCP port in `ss`.
[[ "${METRICS:--}" == "-" ]] && METRICS="$(grep -o 'metrics=127\.0\.0\.1:[0-9]*' "$WORK/relay.log" | head -n 1 | cut -d= -f2 || true)"
if [[ -z "$METRICS" ]] && command -v ss >/dev/null; then
    METRICS="$(ss -Hltnp 2>/dev/null | awk -v pid="pid=$RELAY_PID," -v port="$PORT" \
        'index($0, pid) && $4 ~ /^127\.0\.0\.1:/ && $4 != "127.0.0.1:" port {print $4; exit}')"
fi
[[ -n "$METRICS" ]] || { echo "soak.sh: could not find the relay's metrics port" >&2; exit 1; }

echo "== soak: $RELAY_BIN ${SERVE_ARGS[*]}" >&2
echo "   relay pid $RELAY_PID, control 127.0.0.1:$PORT, udp 127.0.0.1:$UDP_PORT, metrics $METRICS;" \
     "bench $SESSIONS × $MEMBERS at $RATE/s, ${DURATION}s after ${WARMUP}s warm-up" >&2

# --- the valid load ----------------------------------------------------------------------------
timeout $(( DURATION + WARMUP + 90 )) "$RELAY_BIN" bench --relay "127.0.0.1:$PORT" --relay-pid "$RELAY_PID" \
    --sessions "$SESSIONS" --members "$MEMBERS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
    --json "$WORK/bench.json" >"$WORK/bench.txt" 2>"$WORK/bench.err" &
BENCH_PID=$!
# The bench starts its warm-up as soon as its members are joined and bound.
if ! python3 "$DRIVER" wait-bound --addr "$METRICS" --count $(( SESSIONS * MEMBERS )) --timeout 30 --pid "$RELAY_PID"; then
    echo "soak.sh: the bench's $(( SESSIONS * MEMBERS )) members did not all bind within 30 s" >&2
    tail -n 5 "$WORK/bench.err" >&2; tail -n 20 "$WORK/relay.log" >&2
    exit 1
fi

# --- the hostile phase -------------------------------------------------------------------------
RSS_START=$(rss_kb "$RELAY_PID")
RSS_PEAK=$RSS_START
python3 "$DRIVER" metrics --addr "$METRICS" --out "$WORK/metrics-before.txt"
CPU_START=$(cpu_ticks "$RELAY_PID")
T_START=$(now)
python3 "$DRIVER" hostile --port "$PORT" --udp-port "$UDP_PORT" --metrics "$METRICS" \
    --duration $(( DURATION + WARMUP )) --json "$WORK/hostile.json" 2>"$WORK/hostile.err" &
HOSTILE_PID=$!
DIED_DURING=""
for _ in $(seq $(( (DURATION + WARMUP + 100) * 4 ))); do
    alive "$HOSTILE_PID" || alive "$BENCH_PID" || break
    if relay_alive; then
        r=$(rss_kb "$RELAY_PID"); (( r > RSS_PEAK )) && RSS_PEAK=$r
    elif [[ -z "$DIED_DURING" ]]; then
        DIED_DURING="$(date -u +%H:%M:%S), $(awk "BEGIN{printf \"%.0f\", $(now) - $T_START}") s into the hostile phase"
        echo "soak.sh: the relay died during the run ($DIED_DURING)" >&2
    fi
    sleep 0.25
done
CPU_END=$(cpu_ticks "$RELAY_PID")
T_END=$(now)
HOSTILE_STATUS=0; wait "$HOSTILE_PID" || HOSTILE_STATUS=$?; HOSTILE_PID=""
BENCH_STATUS=0; wait "$BENCH_PID" || BENCH_STATUS=$?; BENCH_PID=""
[[ -s "$WORK/hostile.err" ]] && sed 's/^/   hostile: /' "$WORK/hostile.err" | tail -n 20 >&2

# --- after -------------------------------------------------------------------------------------
# All load has stopped: QUIET seconds more (RSS still sampled for the peak), then the last sample.
QUIET_END=$(awk "BEGIN{printf \"%.6f\", $(now) + $QUIET}")
for _ in $(seq $(( QUIET * 4 + 4 ))); do
    awk "BEGIN{exit !($(now) < $QUIET_END)}" || break
    relay_alive && { r=$(rss_kb "$RELAY_PID"); (( r > RSS_PEAK )) && RSS_PEAK=$r; }
    sleep 0.25
done
RSS_END=$(rss_kb "$RELAY_PID")
python3 "$DRIVER" metrics --addr "$METRICS" --out "$WORK/metrics-after.txt"
HELLO_NOTE=""
if relay_alive; then
    python3 "$DRIVER" hello --port "$PORT" --timeout 5 --json "$WORK/hello.json" >/dev/null || true
else
    HELLO_NOTE="the relay was not running"
fi

if relay_alive; then
    ALIVE="yes"
    # SIGTERM: the drain (`shutdown` to every connection, exit once they closed or after the
    # drain timeout), then exit(0). A relay still running well past that gets SIGINT (a second
    # signal exits at once, status 1, still through exit() so LeakSanitizer runs), then SIGKILL.
    T0=$(now)
    kill -TERM "$RELAY_PID"
    HOW="SIGTERM"
    GRACE=$(( DRAIN_TIMEOUT + (ASAN ? 60 : 10) ))
    for _ in $(seq $(( GRACE * 20 ))); do relay_alive || break; sleep 0.05; done
    if relay_alive; then
        kill -INT "$RELAY_PID"; HOW="SIGTERM, then SIGINT after ${GRACE}s"
        for _ in $(seq $(( (ASAN ? 60 : 5) * 20 ))); do relay_alive || break; sleep 0.05; done
    fi
    if relay_alive; then
        kill -KILL "$RELAY_PID"; HOW="$HOW, then SIGKILL"
    fi
    STATUS=0; wait "$RELAY_PID" || STATUS=$?
    EXIT="$STATUS after $HOW ($(awk "BEGIN{printf \"%.1f\", $(now) - $T0}") s)"
    (( STATUS == 0 )) || EXIT="$EXIT, expected 0"
else
    STATUS=0; wait "$RELAY_PID" 2>/dev/null || STATUS=$?
    ALIVE="NO: it died during the run (${DIED_DURING:-after the load}), status $STATUS"
    EXIT="$STATUS (died by itself)"
fi
RELAY_PID=""

CPU_PCT=$(awk "BEGIN{d = $T_END - $T_START; printf \"%.1f\", ((d > 0) ? ($CPU_END - $CPU_START) / $(getconf CLK_TCK) / d * 100 : 0)}")
python3 "$DRIVER" report --work "$WORK" --set duration="$DURATION" --set threads="$THREADS" \
    --set build="$BUILD" --set asan="$ASAN" --set quiet="$QUIET" \
    --set rss_start="$RSS_START" --set rss_peak="$RSS_PEAK" --set rss_end="$RSS_END" \
    --set relay_cpu="$CPU_PCT" --set bench_status="$BENCH_STATUS" \
    --set bench_error="$(tail -n 1 "$WORK/bench.err" 2>/dev/null | tr -d '\r')" \
    --set hostile_status="$HOSTILE_STATUS" --set hello_note="$HELLO_NOTE" \
    --set alive="$ALIVE" --set exit="$EXIT"
[[ "$BENCH_STATUS" == 0 && "$STATUS" == 0 && "$ALIVE" == yes ]]
