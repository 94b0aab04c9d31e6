#!/usr/bin/env bash
# run.sh RELAY GENERATOR [generator args...]
#   RELAY:     gamerelay | coturn            (started here, pinned to core 0, stopped at the end)
#   GENERATOR: loadgen | bench               (pinned to core 1; bench = `gamerelay bench`, as compare.sh's (d))
# Defaults: 50 sessions × 8 members × 30 Hz, 100 B, 10 s measured after 2 s warm-up (loadgen),
# 5 s + 2 s (bench, compare.sh's (d)). Extra args go to the generator.
# Env: GAMERELAY_BIN (default: the repository's release build), GAMERELAY_ARGS (more `serve`
# flags, e.g. "--busy-poll-us 0"), PORT (default 34567), BENCH_BIN
# (the gamerelay binary whose `bench` to run; default GAMERELAY_BIN), RT=1 (run relay and
# generator as SCHED_FIFO 10, so builds sharing the cores can't preempt them; a relay that
# never sleeps then meets RT throttling), NICE=N (run both at nice N instead). Loopback only.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RELAY=${1:?relay: gamerelay|coturn}; GEN=${2:?generator: loadgen|bench}; shift 2
if [[ -z "${GAMERELAY_BIN:-}" && $RELAY == gamerelay || -z "${GAMERELAY_BIN:-}" && $GEN == bench ]]; then
    ( cd "$HERE/../.." && swift build -c release --product gamerelay >/dev/null )
    GAMERELAY_BIN="$(cd "$HERE/../.." && swift build -c release --show-bin-path)/gamerelay"
fi
BIN=${GAMERELAY_BIN:-}
BENCH_BIN=${BENCH_BIN:-$BIN}
PORT=${PORT:-34567}
PRIO=(); [[ "${RT:-0}" == 1 ]] && PRIO=(chrt -f 10); [[ -n "${NICE:-}" ]] && PRIO=(nice -n "$NICE")
WORK="$(mktemp -d /tmp/loadgen-run.XXXXXX)"
RELAY_PID=""
cleanup() {
    if [[ -n "$RELAY_PID" ]] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        for _ in $(seq 60); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x "$HERE/loadgen" ]] || make -C "$HERE" -s
for _ in $(seq 100); do
    grep -qi ":$(printf '%04X' "$PORT") " /proc/net/udp /proc/net/tcp 2>/dev/null || break; sleep 0.1
done
wait_udp() { for _ in $(seq 100); do grep -qi "0100007F:$(printf '%04X' "$PORT") " /proc/net/udp && return 0; sleep 0.05; done; echo "run.sh: nothing on udp $PORT" >&2; exit 1; }
case $RELAY in
gamerelay)
    "${PRIO[@]}" taskset -c 0 "$BIN" serve --host 127.0.0.1 --port "$PORT" --threads 1 \
        --member-packet-rate 1000000 --member-byte-rate 1000000000 ${GAMERELAY_ARGS:-} >"$WORK/relay.log" 2>&1 &
    RELAY_PID=$!; wait_udp ;;
coturn)
    TURN_ARGS=(-n --no-auth --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --allow-loopback-peers
               --relay-threads 1 --no-cli --no-tls --no-dtls --no-tcp --no-rfc5780 --no-software-attribute
               --min-port 49152 --max-port 65535 --simple-log)
    "${PRIO[@]}" taskset -c 0 turnserver "${TURN_ARGS[@]}" --listening-port "$PORT" --log-file "$WORK/turnserver.log" \
        --pidfile "$WORK/turnserver.pid" --db "$WORK/turndb" >/dev/null 2>&1 &
    RELAY_PID=$!; wait_udp
    for _ in $(seq 100); do timeout 1 turnutils_stunclient -p "$PORT" 127.0.0.1 >/dev/null 2>&1 && break; sleep 0.05; done ;;
*) echo "run.sh: relay is gamerelay or coturn" >&2; exit 2 ;;
esac
[[ -n "${RELAY_HOOK:-}" ]] && RELAY_PID=$RELAY_PID bash -c "$RELAY_HOOK" &
case $GEN in
loadgen)
    proto=gamerelay; [[ $RELAY == coturn ]] && proto=turn
    "${PRIO[@]}" taskset -c 1 "$HERE/loadgen" --protocol "$proto" --host 127.0.0.1 --port "$PORT" --relay-pid "$RELAY_PID" \
        --sessions 50 --members 8 --rate 30 --payload 100 --duration 10 --warmup 2 "$@" ;;
bench)
    proto=(--relay-member-packet-rate 1000000); [[ $RELAY == coturn ]] && proto=(--protocol turn --turn-peers direct)
    "${PRIO[@]}" taskset -c 1 "$BENCH_BIN" bench "${proto[@]}" --relay "127.0.0.1:$PORT" --relay-pid "$RELAY_PID" --json "$WORK/bench.json" \
        --sessions 50 --members 8 --payload 100 --rate 30 --duration 5 --warmup 2 "$@" >"$WORK/bench.out" 2>&1 || { tail -5 "$WORK/bench.out"; exit 1; }
    jq -r '"RESULT bench p50=\(.latencyP50Micros) p99=\(.latencyP99Micros) loss=\(.lossPercent) relayCPUus=\(.relayCPUMicrosPerForwarded // "n/a") warnings=\(.warnings|join("; "))"' "$WORK/bench.json" ;;
*) echo "run.sh: generator is loadgen or bench" >&2; exit 2 ;;
esac
