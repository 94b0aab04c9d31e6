#!/usr/bin/env bash
# Measures GameRelay's data plane while a hostile client floods its control channel. One relay
# (`gamerelay serve --threads N` on 127.0.0.1, ports picked by the kernel) carries a steady UDP
# load from `gamerelay bench` (20 sessions × 4 members, 100 B at 50/s each: 12000 deliveries/s)
# while, from one second into the bench's measured window on, Benchmarks/control_flood.py opens
# --connections control connections and each writes --pings copies of {"op":"ping"}\n as fast as
# the relay takes them and never reads a reply (for --duration seconds, then it closes them all
# with the replies unread). Once during the flood a fresh control connection sends `hello` and
# times the reply. Prints one summary block:
#   bench           one-way latency p50/p99/max and loss over the measured window (the flood
#                   covers all of it but its first second); compare with a run of
#                   --connections 0 for the same machine's figures without a flood
#   hello           how long a well-behaved client waited for its reply during the flood (and
#                   once more after it): the control plane's responsiveness to everyone else
#   relay RSS       before the flood, its peak during (sampled every 100 ms), and 5 s after the
#                   flood ended (the bench's members have left by then too): memory the flood
#                   made the relay hold, and whether it gave it back
#   flooder         bytes it managed to write, out of connections × pings × 14 B, and how many of
#                   its connections the relay reset or closed: how much input the relay accepted
#                   from clients that never read (on loopback the kernel's socket buffers alone
#                   hold a few hundred KB per connection, so raise --pings to find where the
#                   relay stops taking input)
#   relay           whether it survived, its log's size (a flood must not flood the log), its
#                   control-plane counters from /metrics where the binary has them, and the
#                   data plane's drops by cause (kernel, idle unbinds, unbound senders), which
#                   tell a loss the flood caused from one it didn't
# Nothing is pinned: relay, bench and flooder share the machine's cores, so run it on an
# otherwise idle machine and repeat; bench warnings (e.g. "generator-bound") are printed.
# Loopback (127.0.0.1) only; stops itself after --duration + 60 s (the build, when it has to
# run, comes before that budget) and kills everything it started.
#
# Usage: Benchmarks/control-flood.sh [--relay-bin PATH] [--threads N] [--connections 200]
#            [--pings 20000] [--duration 10]
# Default relay binary: the release build of this checkout (built if missing).
# Set CONTROL_FLOOD_KEEP=1 to keep the work directory (relay log, bench JSON and report).
# Needs: swift (for the default binary), python3. Run from anywhere.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLOODER="$REPO/Benchmarks/control_flood.py"
RELAY_BIN=""
THREADS=1
CONNECTIONS=200
PINGS=20000
DURATION=10
SESSIONS=20
MEMBERS=4
RATE=50
WARMUP=1

usage() { sed -n '/^# Usage:/,/^# Needs:/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --relay-bin) RELAY_BIN="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --connections) CONNECTIONS="$2"; shift 2 ;;
        --pings) PINGS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        -h|--help) usage ;;
        *) echo "control-flood.sh: unknown argument $1" >&2; usage ;;
    esac
done
[[ "$THREADS" =~ ^[0-9]+$ && "$CONNECTIONS" =~ ^[0-9]+$ && "$PINGS" =~ ^[0-9]+$ ]] || usage
[[ "$DURATION" =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk "BEGIN{exit !($DURATION >= 2)}" \
    || { echo "control-flood.sh: --duration must be a number of seconds, at least 2" >&2; exit 2; }

command -v python3 >/dev/null || { echo "control-flood.sh: python3 is missing" >&2; exit 2; }

WORK="$(mktemp -d /tmp/gamerelay-control-flood.XXXXXX)"
RELAY_PID=""
BENCH_PID=""
FLOOD_PID=""
HELLO_PID=""
WATCHDOG_PID=""

# shellcheck source=lib/processes.sh
source "$REPO/Benchmarks/lib/processes.sh"

cleanup() {
    local status=$?
    stop_pid "$HELLO_PID" 1
    stop_pid "$FLOOD_PID" 1
    stop_pid "$BENCH_PID" 2
    stop_pid "$RELAY_PID" 8
    stop_watchdog
    if [[ "${CONTROL_FLOOD_KEEP:-0}" == 1 ]]; then
        echo "control-flood.sh: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'echo "control-flood.sh: interrupted" >&2; exit 130' INT TERM

find_relay_bin control-flood.sh

# The watchdog ends the script (and through the EXIT trap everything it started) at the budget.
BUDGET_SECONDS=$(awk "BEGIN{printf \"%d\", $DURATION + 60.999}")
start_watchdog control-flood.sh "$BUDGET_SECONDS"

now() { echo "$EPOCHREALTIME"; }
sleep_until() { local d; d=$(awk "BEGIN{d=$1-$(now); printf \"%.3f\", (d>0)?d:0}"); sleep "$d"; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk "BEGIN{printf \"%.1f\", $1/1024}"; }
metrics() {
    # The relay's /metrics text, or nothing (2 s at most).
    [[ -n "$METRICS" ]] || return 0
    python3 - "$METRICS" <<'EOF' 2>/dev/null || true
import sys, urllib.request
try:
    print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=2).read().decode(), end="")
except Exception:
    pass
EOF
}
metric() { metrics | awk -v n="$1" '$1 == n {print $2; exit}'; }

# --- the relay ---------------------------------------------------------------------------------
SERVE_HELP="$("$RELAY_BIN" serve --help 2>&1 || true)"
SERVE_ARGS=(serve --host 127.0.0.1 --port 0 --threads "$THREADS")
grep -q -- '--metrics-port' <<<"$SERVE_HELP" && SERVE_ARGS+=(--metrics-port 0)
start_relay control-flood.sh "$RELAY_BIN" "${SERVE_ARGS[@]}"
METRICS="$(grep -o 'metrics=127\.0\.0\.1:[0-9]*' "$WORK/relay.log" | head -n 1 | cut -d= -f2 || true)"

echo "== control flood: $RELAY_BIN ${SERVE_ARGS[*]}"
echo "   relay pid $RELAY_PID, control 127.0.0.1:$PORT, metrics ${METRICS:-none};" \
     "flood $CONNECTIONS connections × $PINGS pings; bench $SESSIONS × $MEMBERS members at $RATE/s, ${DURATION}s"

# --- the data-plane probe ----------------------------------------------------------------------
"$RELAY_BIN" bench --relay "127.0.0.1:$PORT" --relay-pid "$RELAY_PID" --sessions "$SESSIONS" \
    --members "$MEMBERS" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
    --json "$WORK/bench.json" >"$WORK/bench.txt" 2>"$WORK/bench.err" &
BENCH_PID=$!

# The bench starts sending (warm-up first) as soon as its members are joined and bound; the
# relay's bound-member gauge says when. Without /metrics, its established control connections.
MEMBERS_TOTAL=$(( SESSIONS * MEMBERS ))
SETUP_DONE=""
for _ in $(seq 600); do
    kill -0 "$BENCH_PID" 2>/dev/null || break
    if [[ -n "$METRICS" ]]; then
        bound="$(metric gamerelay_bound_members)"
        [[ -n "$bound" ]] && awk "BEGIN{exit !($bound >= $MEMBERS_TOTAL)}" && { SETUP_DONE=$(now); break; }
    else
        est=$(awk -v p="$(printf '%04X' "$PORT")" '$2 ~ ":"p"$" && $4 == "01"' /proc/net/tcp | wc -l)
        (( est >= MEMBERS_TOTAL )) && { sleep 0.3; SETUP_DONE=$(now); break; }
    fi
    sleep 0.05
done
if [[ -z "$SETUP_DONE" ]]; then
    echo "control-flood.sh: the bench's $MEMBERS_TOTAL members did not all bind within 30 s" >&2
    cat "$WORK/bench.err" >&2
    exit 1
fi
FLOOD_AT=$(awk "BEGIN{printf \"%.6f\", $SETUP_DONE + $WARMUP + 1}")
HELLO_AT=$(awk "BEGIN{h=$DURATION/2; if (h>2) h=2; printf \"%.6f\", $FLOOD_AT + h}")

sleep_until "$FLOOD_AT"
RSS_BEFORE=$(rss_kb "$RELAY_PID")
RSS_PEAK=$RSS_BEFORE

# --- the flood ---------------------------------------------------------------------------------
python3 "$FLOODER" flood --port "$PORT" --connections "$CONNECTIONS" --pings "$PINGS" \
    --duration "$DURATION" --json "$WORK/flood.json" >"$WORK/flood.txt" 2>&1 &
FLOOD_PID=$!
HELLO_STARTED=0
while kill -0 "$FLOOD_PID" 2>/dev/null; do
    r=$(rss_kb "$RELAY_PID"); (( r > RSS_PEAK )) && RSS_PEAK=$r
    if (( HELLO_STARTED == 0 )) && awk "BEGIN{exit !($(now) >= $HELLO_AT)}"; then
        python3 "$FLOODER" hello --port "$PORT" --timeout 10 --json "$WORK/hello.json" >/dev/null 2>&1 &
        HELLO_PID=$!
        HELLO_STARTED=1
    fi
    sleep 0.1
done
wait "$FLOOD_PID" || echo "control-flood.sh: the flooder exited with status $?" >&2
FLOOD_PID=""
FLOOD_END=$(now)

# --- after -------------------------------------------------------------------------------------
# The hello probe, the bench and 5 s of quiet; RSS keeps being sampled for the peak meanwhile.
while awk "BEGIN{exit !($(now) < $FLOOD_END + 5)}"; do
    r=$(rss_kb "$RELAY_PID"); (( r > RSS_PEAK )) && RSS_PEAK=$r
    sleep 0.1
done
RSS_AFTER=$(rss_kb "$RELAY_PID")
[[ -n "$HELLO_PID" ]] && { wait "$HELLO_PID" || true; HELLO_PID=""; }
BENCH_STATUS=0
wait "$BENCH_PID" || BENCH_STATUS=$?
BENCH_PID=""
RELAY_STATE="running"
relay_alive || { wait "$RELAY_PID" && RELAY_STATE="exited (status 0)" || RELAY_STATE="exited (status $?)"; RELAY_PID=""; }
HELLO_AFTER="$(python3 "$FLOODER" hello --port "$PORT" --timeout 10 2>&1 | sed 's/^hello: //')"
METRICS_TEXT="$(metrics)"
COUNTERS="$(awk '$1 ~ /^gamerelay_control_|^gamerelay_closing_sent_total$/ && $1 !~ /limit$/ {sub(/^gamerelay_/, "", $1); printf "%s=%s ", $1, $2}' <<<"$METRICS_TEXT")"
DROPS="$(awk '($1 ~ /^gamerelay_datagrams_dropped_total/ || $1 ~ /^gamerelay_(idle_unbinds|udp_receive_queue_drops|send_failures)_total(\{.*\})?$/) && $2 != 0 {sub(/^gamerelay_/, "", $1); printf "%s=%s ", $1, $2}' <<<"$METRICS_TEXT")"
[[ -n "$METRICS_TEXT" && -z "$DROPS" ]] && DROPS="none"

# --- the summary -------------------------------------------------------------------------------
python3 - "$WORK" "$BENCH_STATUS" "$RELAY_STATE" "$HELLO_AFTER" "$COUNTERS" "$DROPS" \
    "$(mib "$RSS_BEFORE")" "$(mib "$RSS_PEAK")" "$(mib "$RSS_AFTER")" <<'EOF'
import json, os, sys
work, bench_status, relay_state, hello_after, counters, drops, rss_before, rss_peak, rss_after = sys.argv[1:10]

def load(name):
    try:
        with open(os.path.join(work, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def ms(micros):
    return "%.3f ms" % (micros / 1000.0)

bench, flood, hello = load("bench.json"), load("flood.json"), load("hello.json")
rows = []
if bench:
    rows.append(("bench latency", "p50 %s   p99 %s   max %s" % (ms(bench["latencyP50Micros"]),
                 ms(bench["latencyP99Micros"]), ms(bench["latencyMaxMicros"]))))
    kernel = bench.get("relaySocketDrops")
    rows.append(("bench loss", "%.3f %% (%d of %d delivered; kernel drops at the relay's sockets %s)" % (
        bench["lossPercent"], bench["delivered"], bench["expected"], "n/a" if kernel is None else kernel)))
else:
    err = open(os.path.join(work, "bench.err")).read().strip().splitlines()
    rows.append(("bench", "no summary (status %s): %s" % (bench_status, err[-1] if err else "no output")))
if hello is None:
    rows.append(("hello during flood", "not sent (the flood ended first)"))
elif hello.get("ms") is not None:
    rows.append(("hello during flood", "%.3f ms%s" % (hello["ms"], "" if hello.get("ok") else "  (reply: %s)" % hello.get("reply"))))
else:
    rows.append(("hello during flood", hello.get("error")))
rows.append(("hello after flood", hello_after))
rows.append(("relay RSS", "before %s MiB   peak %s MiB   5 s after %s MiB" % (rss_before, rss_peak, rss_after)))
if flood:
    rows.append(("flooder written", "%d of %d bytes (%.1f MB); %d of %d connections wrote all their pings%s" % (
        flood["bytes_written"], flood["bytes_planned"], flood["bytes_written"] / 1e6,
        flood["connections_fully_written"], flood["connections"],
        "" if flood["all_stopped_after_s"] is None else ", every one done or stopped after %.2f s" % flood["all_stopped_after_s"])))
    rows.append(("flooder conns", "reset by the relay %d, closed (FIN) by the relay %d, failed to connect %d; errors %s" % (
        flood["connections_reset"], flood["connections_closed"], flood["connect_failures"],
        json.dumps(flood["errors"], sort_keys=True) if flood["errors"] else "none")))
else:
    rows.append(("flooder", "no summary: " + open(os.path.join(work, "flood.txt")).read().strip()))
log = os.path.join(work, "relay.log")
lines = open(log, errors="replace").read().splitlines()
levels = {}
for line in lines:
    parts = line.split(" ", 2)
    if len(parts) > 1:
        levels[parts[1]] = levels.get(parts[1], 0) + 1
rows.append(("relay", relay_state))
rows.append(("relay log", "%d lines, %.1f KiB (%s)" % (len(lines), os.path.getsize(log) / 1024,
             ", ".join("%s %d" % kv for kv in sorted(levels.items())) or "empty")))
if counters.strip():
    rows.append(("relay counters", counters.strip()))
if drops.strip():
    rows.append(("relay data drops", drops.strip()))
for warning in (bench or {}).get("warnings", []):
    rows.append(("bench warning", warning))
width = max(len(k) for k, _ in rows)
for key, value in rows:
    print("%s  %s" % (key.ljust(width), value))
EOF
[[ "$BENCH_STATUS" == 0 ]] || exit 1
