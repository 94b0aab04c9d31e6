#!/usr/bin/env bash
# Compares gamerelay with coturn on loopback, with the same load generator (`gamerelay bench`,
# `--protocol gamerelay|turn`): the relay under test pinned to core 0, one at a time, the
# generator pinned to core 1. Workloads, each run on both relays in turn (order flipped from one
# workload to the next):
#   (a) fan-out 1 (2 members/session): highest delivered rate with < 1 % loss (a ladder of
#       rates, then two bisection steps between the last rung passed and the first failed)
#   (b) fan-out 7 (8 members/session): the same
#   (c) fan-out 7 at a fixed load below saturation (~150k delivered/s): relay CPU µs per delivery
#   (c1) the same at fan-out 1 (50 sessions × 2 members at 1500/s each)
#   (d) 50 sessions × 8 members at 30 Hz, 100 B: one-way latency p50/p99
#   (e) RSS growth of a fresh relay from 0 to 1000 members joined and bound (125 × 8; for
#       coturn, 1000 allocations with their channels), control connections included
#   (f) tick sessions: 8 sessions × 32 members, each sending 100-byte LATEST broadcasts at
#       30 Hz (238k deliveries/s when forwarded one by one), fixed load, run three ways:
#       gamerelay with `--tick 30` (one AGGREGATE per receiver and tick), gamerelay one by
#       one (`--latest`, the same LATEST states forwarded at once), and coturn one by one.
#       Relay CPU µs per delivered update, latency p50/p99 per update, and the targets: CPU
#       per update with ticks <= 0.2 × one by one and <= 0.15 × coturn, p99 with ticks <=
#       33.3 ms + the one-by-one p99. The one-by-one runs are beyond one generator core, so
#       their CPU is also given per datagram sent (GameRelay's by its own forwarded count
#       from /metrics; coturn's estimated as delivered + dropped at the generator's full
#       receive queues) and per delivery the workload expects (a lower bound of the cost per
#       datagram sent), and the CPU targets are judged against those too. The tick
#       relay serves its metrics so bench can read how many states it superseded. No
#       baseline column: a parent build may predate ticks.
# coturn's channels lead straight to each receiver's own UDP socket (`--turn-peers direct`: one
# receive and one send in coturn per delivery, as with GameRelay). (c) and (d) also run with
# `--turn-peers relayed`, where both ends are behind TURN and each delivery crosses coturn twice.
# Prints a table with both relays' figures and gamerelay/coturn ratios; flags runs whose JSON
# summary carries a "generator-bound" warning. A ladder stops at a generator-bound rung: the
# generator can't offer more, so the relay's maximum is at least that figure, printed ">= N".
# In (a) and (b) the generator sends each member's due messages in one segmented send (UDP GSO),
# so its one core can outrun a relay's; elsewhere each datagram is its own send, as a game
# client's are (one GSO burst of 7 ChannelData reaches coturn at once, and its latency tail grows).
# (b2) runs (b) once more with `gamerelay --threads 2`, unpinned, for information only: the
# generator shares the two cores with the relay's loops, so it is no measure of scaling.
#
# --baseline BIN adds a third column: another gamerelay binary (say, the parent commit's release
# build) run in every workload, interleaved with this one, so a change is judged against its
# parent in the same session; (b2) then runs the baseline with --threads 2 as well.
# Loopback (127.0.0.1) only; stops itself within 6 minutes (10 with --baseline; 5 and 9 before
# (f) was added) and kills everything it started.
#
# Usage: Benchmarks/compare.sh [--baseline PATH-TO-GAMERELAY]
# Needs: swift, coturn (turnserver, turnutils_stunclient), jq, taskset (util-linux). Run from anywhere.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASELINE_BIN=""
while (( $# > 0 )); do
    case $1 in
        --baseline) BASELINE_BIN=${2:?--baseline needs a path}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -n $BASELINE_BIN ]]; then
    [[ -x $BASELINE_BIN ]] || { echo "compare.sh: --baseline $BASELINE_BIN is not an executable" >&2; exit 2; }
    BASELINE_BIN="$(cd "$(dirname "$BASELINE_BIN")" && pwd)/$(basename "$BASELINE_BIN")"
    BUDGET_SECONDS=${COMPARE_BUDGET_SECONDS:-600}
else
    BUDGET_SECONDS=${COMPARE_BUDGET_SECONDS:-370}
fi
WORK="$(mktemp -d /tmp/gamerelay-compare.XXXXXX)"
RELAY_PID=""
WATCHDOG_PID=""
START=$SECONDS

stop_relay() {
    if [[ -n "$RELAY_PID" ]] && kill -0 "$RELAY_PID" 2>/dev/null; then
        kill -TERM "$RELAY_PID" 2>/dev/null || true
        for _ in $(seq 40); do kill -0 "$RELAY_PID" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$RELAY_PID" 2>/dev/null || true
        wait "$RELAY_PID" 2>/dev/null || true
    fi
    RELAY_PID=""
}

cleanup() {
    local status=$?
    stop_relay
    if [[ -n "$WATCHDOG_PID" ]] && kill -0 "$WATCHDOG_PID" 2>/dev/null; then
        # The watchdog first (so it can't report its sleep's death), then its sleep.
        local sleeper; sleeper=$(pgrep -P "$WATCHDOG_PID" sleep || true)
        kill "$WATCHDOG_PID" 2>/dev/null || true
        [[ -n "$sleeper" ]] && kill "$sleeper" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT TERM

# The watchdog ends the script (and through the EXIT trap everything it started) at the budget.
( sleep "$BUDGET_SECONDS"; echo "compare.sh: the ${BUDGET_SECONDS}s budget ran out; stopping" >&2; kill -TERM $$ ) &
WATCHDOG_PID=$!

for tool in swift turnserver turnutils_stunclient jq taskset; do
    command -v "$tool" >/dev/null || { echo "compare.sh: $tool is missing (apt-get install -y coturn jq util-linux)" >&2; exit 2; }
done
[[ $(nproc) -ge 2 ]] || { echo "compare.sh: needs 2 cores (relay on 0, generator on 1)" >&2; exit 2; }

remaining() { echo $(( BUDGET_SECONDS - (SECONDS - START) )); }

echo "== building (release)"
( cd "$REPO" && timeout "$(remaining)" swift build -c release --product gamerelay 2>&1 | tail -n 3 )
BIN="$(cd "$REPO" && timeout 60 swift build -c release --product gamerelay --show-bin-path)/gamerelay"
[[ -x "$BIN" ]] || { echo "compare.sh: no gamerelay binary at $BIN" >&2; exit 1; }

free_port() {
    # A TCP+UDP port on 127.0.0.1 that nothing listens on right now.
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 20000 ))
        if ! grep -qi ":$(printf '%04X' "$port") " /proc/net/udp /proc/net/tcp 2>/dev/null; then echo "$port"; return; fi
    done
    echo "compare.sh: no free port" >&2; exit 1
}

wait_udp_port() {
    local hex; hex=$(printf '%04X' "$1")
    for _ in $(seq 100); do
        grep -qi "0100007F:$hex " /proc/net/udp && return 0
        sleep 0.05
    done
    echo "compare.sh: nothing listens on udp 127.0.0.1:$1" >&2; return 1
}

# Seconds kept back for stopping the last relay and printing the table: a run that would eat
# into them is skipped, so the table always appears before the watchdog fires.
RESERVE_SECONDS=15
OUT_OF_TIME=0
PORT=""
METRICS_PORT=""
MEMBER_RATE=1000000   # the per-member limit raised, so the runs measure capacity
# start_gamerelay BINARY THREADS [metrics]: pinned to core 0 with one data-plane loop, unpinned
# with more; with "metrics", serving /metrics on METRICS_PORT.
start_gamerelay() {
    local binary=$1 threads=$2 pin=(taskset -c 0) metrics=()
    (( threads > 1 )) && pin=()
    PORT=$(free_port)
    if [[ ${3:-} == metrics ]]; then
        METRICS_PORT=$(free_port)
        metrics=(--metrics-port "$METRICS_PORT")
    fi
    "${pin[@]}" "$binary" serve --host 127.0.0.1 --port "$PORT" --threads "$threads" "${metrics[@]}" \
        --member-packet-rate "$MEMBER_RATE" --member-byte-rate 1000000000 >"$WORK/gamerelay.log" 2>&1 &
    RELAY_PID=$!
    wait_udp_port "$PORT"
}

# coturn 4.6: -n ignores /etc/turnserver.conf; --relay-threads 1 gives one relay thread (the
# listener, auth and admin threads are mostly idle, and taskset keeps them all on core 0).
TURN_ARGS=(-n --no-auth --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 --allow-loopback-peers
           --relay-threads 1 --no-cli --no-tls --no-dtls --no-tcp --no-rfc5780 --no-software-attribute
           --min-port 49152 --max-port 65535 --simple-log)
start_coturn() {
    PORT=$(free_port)
    taskset -c 0 turnserver "${TURN_ARGS[@]}" --listening-port "$PORT" --log-file "$WORK/turnserver.log" \
        --pidfile "$WORK/turnserver.pid" --db "$WORK/turndb" >/dev/null 2>&1 &
    RELAY_PID=$!
    wait_udp_port "$PORT"
    # The port is bound before coturn serves it: wait for an answer to a STUN Binding request.
    for _ in $(seq 100); do
        timeout 1 turnutils_stunclient -p "$PORT" 127.0.0.1 >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "compare.sh: coturn does not answer on 127.0.0.1:$PORT" >&2; return 1
}

start_relay() {
    case $1 in
        gamerelay) start_gamerelay "$BIN" 1 ;;
        gamerelay-t2) start_gamerelay "$BIN" 2 ;;
        gamerelay-tick | gamerelay-metrics) start_gamerelay "$BIN" 1 metrics ;;
        baseline) start_gamerelay "$BASELINE_BIN" 1 ;;
        baseline-t2) start_gamerelay "$BASELINE_BIN" 2 ;;
        *) start_coturn ;;
    esac
}

# bench RELAY NAME ARGS...: one generator run on core 1; the JSON summary lands in $WORK/NAME.json.
bench() {
    local relay=$1 name=$2; shift 2
    local proto=(--relay-member-packet-rate "$MEMBER_RATE")
    [[ $relay == coturn ]] && proto=(--protocol turn --turn-peers direct)
    [[ $relay == coturn-relayed ]] && proto=(--protocol turn --turn-peers relayed)
    [[ $relay == gamerelay-tick ]] && proto+=(--tick 30 --relay-metrics "http://127.0.0.1:$METRICS_PORT/metrics")
    # (f) one by one: the relay's own forwarded count, for its CPU per datagram it sent.
    [[ $relay == gamerelay-metrics ]] && proto+=(--relay-metrics "http://127.0.0.1:$METRICS_PORT/metrics")
    local limit; limit=$(( $(remaining) - RESERVE_SECONDS ))
    if (( limit < 10 )); then
        echo "   $name: skipped, out of time" >&2
        OUT_OF_TIME=1
        return 1
    fi
    if ! timeout "$(( limit < 90 ? limit : 90 ))" taskset -c 1 "$BIN" bench "${proto[@]}" --relay "127.0.0.1:$PORT" \
            --relay-pid "$RELAY_PID" --json "$WORK/$name.json" "$@" >"$WORK/$name.out" 2>&1; then
        echo "   $name: bench failed: $(tail -n 1 "$WORK/$name.out")" >&2
        [[ $relay == coturn && -f "$WORK/turnserver.log" ]] && tail -n 5 "$WORK/turnserver.log" | sed 's/^/     turnserver: /' >&2
        rm -f "$WORK/$name.json"
        return 1
    fi
}

field() { [[ -f "$WORK/$1.json" ]] && jq -r "$2 // empty" "$WORK/$1.json" || true; }

FLAGS=()
note_flags() {
    local name=$1 label=$2 warning
    [[ -f "$WORK/$name.json" ]] || return 0
    while IFS= read -r warning; do
        [[ -n "$warning" ]] && FLAGS+=("$label: $warning")
    done < <(jq -r '.warnings[] | select(startswith("generator-bound"))' "$WORK/$name.json")
}

generator_bound() { [[ -f "$WORK/$1.json" ]] && jq -e '[.warnings[] | select(startswith("generator-bound"))] | length > 0' "$WORK/$1.json" >/dev/null; }

# rung RELAY TAG SESSIONS MEMBERS RATE: one ladder run; sets RUNG_PASSED (loss < 1 %),
# RUNG_DELIVERED and RUNG_BOUND (generator-bound). Fails when the bench failed.
rung() {
    local relay=$1 tag=$2 sessions=$3 members=$4 rate=$5 name loss
    name="$tag-$relay-$rate"
    bench "$relay" "$name" --sessions "$sessions" --members "$members" --payload 100 --rate "$rate" \
        --duration 2 --warmup 1 --segmented-sends || return 1
    loss=$(field "$name" .lossPercent)
    RUNG_DELIVERED=$(field "$name" .deliveredPacketsPerSecond); RUNG_DELIVERED=${RUNG_DELIVERED%.*}
    RUNG_PASSED=0; RUNG_BOUND=0
    [[ -n "$loss" ]] && awk -v l="$loss" 'BEGIN { exit !(l + 0 < 1.0) }' && RUNG_PASSED=1
    generator_bound "$name" && RUNG_BOUND=1
    # A loss that died in the relay's full receive queues, none in the generator's, is the
    # relay's, however busy the generator was.
    if (( ! RUNG_PASSED && RUNG_BOUND )) && [[ "$(field "$name" .relaySocketDrops)" =~ ^[1-9][0-9]*$ && "$(field "$name" .generatorSocketDrops)" == 0 ]]; then
        RUNG_BOUND=0
    fi
    note_flags "$name" "($tag) $relay at $rate/s per member"
    echo "   $relay $rate/s per member: delivered ${RUNG_DELIVERED}/s, loss ${loss}%, kernel drops at relay $(field "$name" .relaySocketDrops) / at generator $(field "$name" .generatorSocketDrops)$( ((RUNG_BOUND)) && echo ", generator-bound")" >&2
}

# ladder RELAY TAG SESSIONS MEMBERS RATES...: ascending per-member rates, stopping at the first
# with >= 1 % loss or the first generator-bound one, then bisecting twice between the last
# passed and the first failed. Sets LADDER_BEST to the best delivered rate (0 when none passed)
# and LADDER_BOUND to 1 when the relay's maximum may be higher than that: the climb stopped at
# a generator-bound rung, a bisection rung failed generator-bound, or every rung passed.
LADDER_BEST=0
LADDER_BOUND=0
ladder() {
    local relay=$1 tag=$2 sessions=$3 members=$4; shift 4
    local best=0 bound=1 passed_rate=0 failed_rate=0 rate step
    for rate in "$@"; do
        rung "$relay" "$tag" "$sessions" "$members" "$rate" || { bound=0; break; }
        if (( RUNG_BOUND )); then
            # The generator, not the relay, set this rung's figure: nothing higher can be measured.
            (( RUNG_PASSED && RUNG_DELIVERED > best )) && best=$RUNG_DELIVERED
            break
        elif (( RUNG_PASSED )); then
            passed_rate=$rate
            (( RUNG_DELIVERED > best )) && best=$RUNG_DELIVERED
        else
            failed_rate=$rate
            bound=0
            break
        fi
    done
    if (( failed_rate > 0 && passed_rate > 0 )); then
        for step in 1 2; do
            rate=$(( (passed_rate + failed_rate) / 2 ))
            (( rate > passed_rate && rate < failed_rate )) || break
            rung "$relay" "$tag" "$sessions" "$members" "$rate" || break
            # A pass is the relay's even when the generator was busy: it delivered that rate.
            # The rung above already failed at the relay, so the maximum stays bracketed.
            if (( RUNG_PASSED )); then
                passed_rate=$rate
                (( RUNG_DELIVERED > best )) && best=$RUNG_DELIVERED
            else
                (( RUNG_BOUND )) && bound=1
                failed_rate=$rate
            fi
        done
    fi
    (( best > 0 )) || bound=0
    LADDER_BEST=$best
    LADDER_BOUND=$bound
}

declare -A RESULT
run_workload() {
    local tag=$1; shift
    for relay in "$@"; do
        echo "== ($tag) $relay" >&2
        start_relay "$relay"
        case $tag in
            # 50 sessions × 2 members × R/s: 100·R delivered/s; 10 × 8 × 7 receivers × R/s: 560·R.
            a) ladder "$relay" a 50 2 1000 1500 2000 2500 3000 3500 4000 5000
               RESULT[a-$relay]=$LADDER_BEST; RESULT[a-bound-$relay]=$LADDER_BOUND ;;
            b) ladder "$relay" b 10 8 180 270 360 450 540 720 900 1080
               RESULT[b-$relay]=$LADDER_BEST; RESULT[b-bound-$relay]=$LADDER_BOUND ;;
            b2) ladder "$relay" b2 10 8 270 450 720 900 1080 1440
               RESULT[b2-$relay]=$LADDER_BEST; RESULT[b2-bound-$relay]=$LADDER_BOUND ;;
            c)
                # 10 sessions × 8 members × 7 receivers × 268/s ≈ 150k delivered/s.
                if bench "$relay" "c-$relay" --sessions 10 --members 8 --payload 100 --rate 268 --duration 5 --warmup 1; then
                    RESULT[c-$relay]=$(field "c-$relay" .relayCPUMicrosPerForwarded)
                    RESULT[c-delivered-$relay]=$(field "c-$relay" .deliveredPacketsPerSecond)
                    RESULT[c-loss-$relay]=$(field "c-$relay" .lossPercent)
                    note_flags "c-$relay" "(c) $relay"
                fi ;;
            c1)
                if bench "$relay" "c1-$relay" --sessions 50 --members 2 --payload 100 --rate 1500 --duration 5 --warmup 1; then
                    RESULT[c1-$relay]=$(field "c1-$relay" .relayCPUMicrosPerForwarded)
                    RESULT[c1-loss-$relay]=$(field "c1-$relay" .lossPercent)
                    note_flags "c1-$relay" "(c1) $relay"
                fi ;;
            d)
                if bench "$relay" "d-$relay" --sessions 50 --members 8 --payload 100 --rate 30 --duration 5 --warmup 2; then
                    RESULT[d50-$relay]=$(field "d-$relay" .latencyP50Micros)
                    RESULT[d99-$relay]=$(field "d-$relay" .latencyP99Micros)
                    RESULT[d-loss-$relay]=$(field "d-$relay" .lossPercent)
                    note_flags "d-$relay" "(d) $relay"
                fi ;;
            f)
                # 8 sessions × 32 members × 31 receivers × 30/s = 238,080 deliveries/s one by one;
                # with --tick 30, LATEST states in 4 AGGREGATEs per receiver and tick (at the
                # relay's default maxDatagram of 1200 bytes, 10 entries of 108 bytes each fit one).
                # GameRelay one by one sends the same LATEST states (--latest); TURN has no such flag.
                local latest=(); [[ $relay == gamerelay-metrics ]] && latest=(--latest)
                if bench "$relay" "f-$relay" --sessions 8 --members 32 --payload 100 --rate 30 --duration 5 --warmup 2 "${latest[@]}"; then
                    RESULT[f-$relay]=$(field "f-$relay" '.relayCPUMicrosPerUpdate // .relayCPUMicrosPerForwarded')
                    RESULT[f50-$relay]=$(field "f-$relay" .latencyP50Micros)
                    RESULT[f99-$relay]=$(field "f-$relay" .latencyP99Micros)
                    RESULT[f-updates-$relay]=$(field "f-$relay" .deliveredPacketsPerSecond)
                    RESULT[f-datagrams-$relay]=$(field "f-$relay" '.datagramsReceivedPerSecond // .deliveredPacketsPerSecond')
                    RESULT[f-loss-$relay]=$(field "f-$relay" .lossPercent)
                    RESULT[f-superseded-$relay]=$(field "f-$relay" .supersededDeliveries)
                    RESULT[f-expected-$relay]=$(field "f-$relay" .expected)
                    # Per datagram the relay sent, whether the generator took it in time or its
                    # full receive queues dropped it: the relay's work, not the generator's limit.
                    # GameRelay counts its own sends; coturn's are estimated from the generator.
                    RESULT[f-sent-$relay]=$(field "f-$relay" 'if .relayCPUMicrosPerRelayForwarded then .relayCPUMicrosPerRelayForwarded elif .relayCPUMicrosPerForwarded and .delivered > 0 and .generatorSocketDrops != null then .relayCPUMicrosPerForwarded * .delivered / (.delivered + .generatorSocketDrops) else null end')
                    # Per delivery the workload asks for: a relay can't have sent more, so this is
                    # at most its cost per datagram sent, and a tick ratio against it at least the true one.
                    RESULT[f-expected-cpu-$relay]=$(field "f-$relay" 'if .relayCPUMicrosPerForwarded and .delivered > 0 and .expected > 0 then .relayCPUMicrosPerForwarded * .delivered / .expected else null end')
                    note_flags "f-$relay" "(f) $relay"
                fi ;;
            e)
                # A fresh relay: growth from no member to 1000 joined and bound, before any traffic.
                if bench "$relay" "e-$relay" --sessions 125 --members 8 --payload 100 --rate 1 --duration 1 --warmup 0; then
                    RESULT[e-$relay]=$(field "e-$relay" .relaySetupRSSGrowthMB)
                fi ;;
        esac
        stop_relay
    done
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
# With --baseline, the baseline runs beside gamerelay in every workload, on the other side of
# coturn when it can, so slow drift in the machine's load falls on both.
B=(); [[ -n $BASELINE_BIN ]] && B=(baseline)
run_workload a gamerelay coturn "${B[@]}"
run_workload b "${B[@]}" coturn gamerelay
run_workload c gamerelay coturn coturn-relayed "${B[@]}"
run_workload c1 "${B[@]}" coturn gamerelay
run_workload d coturn-relayed "${B[@]}" coturn gamerelay
run_workload e gamerelay coturn "${B[@]}"
run_workload f gamerelay-tick gamerelay-metrics coturn
if [[ -n $BASELINE_BIN ]]; then run_workload b2 gamerelay-t2 baseline-t2; else run_workload b2 gamerelay-t2; fi

ratio() { awk -v g="${1:-}" -v c="${2:-}" 'BEGIN { if (g == "" || c == "" || c + 0 == 0) print "n/a"; else printf "%.2f", g / c }'; }
fmt() { [[ -n "${1:-}" ]] && printf "%.${2}f" "$1" || printf "n/a"; }
# A maximum whose best run was generator-bound is a lower bound, and so is gamerelay's ratio.
atleast() { if [[ "${2:-0}" == 1 ]]; then printf ">= %s" "$1"; else printf "%s" "$1"; fi; }
# Lower bounds make the ratio a bound too: gamerelay's alone → at least; coturn's alone → at
# most; both → neither, only an approximation.
max_ratio() {
    local r g=${RESULT[$1-bound-gamerelay]:-0} c=${RESULT[$1-bound-coturn]:-0}
    r=$(ratio "${RESULT[$1-gamerelay]:-}" "${RESULT[$1-coturn]:-}")
    if [[ $r != n/a ]]; then
        if [[ $g == 1 && $c == 1 ]]; then r="~$r"
        elif [[ $g == 1 ]]; then r=">= $r"
        elif [[ $c == 1 ]]; then r="<= $r"; fi
    fi
    printf "%s" "$r"
}

HARDWARE="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -m), Linux $(uname -r)"
echo
echo "gamerelay vs coturn $(turnserver --version 2>/dev/null | head -n 1 | tr -d '\r' || echo '?') on loopback, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "hardware: $HARDWARE"
echo "relay pinned to core 0 (gamerelay --threads 1, coturn --relay-threads 1), generator pinned to core 1;"
[[ -n $BASELINE_BIN ]] && echo "baseline: $BASELINE_BIN, run like gamerelay and interleaved with it"
echo "load average before the runs: $LOAD"
echo "coturn's channels lead to each receiver's own UDP socket: one receive and one send in coturn per delivery."
# row LABEL GAMERELAY COTURN G/C [BASELINE G/BASE]: the baseline columns only with --baseline.
row() {
    if [[ -n $BASELINE_BIN ]]; then
        printf '%-52s %14s %14s %10s %14s %10s\n' "$1" "$2" "$3" "$4" "${5:-}" "${6:-}"
    else
        printf '%-52s %14s %14s %10s\n' "$1" "$2" "$3" "$4"
    fi
}
# base KEY DECIMALS: the baseline's figure and gamerelay's ratio to it.
base() { printf '%s' "$(fmt "${RESULT[$1-baseline]:-}" "$2")"; }
gbase() { ratio "${RESULT[$1-gamerelay]:-}" "${RESULT[$1-baseline]:-}"; }
maxbase() { atleast "${RESULT[$1-baseline]:-n/a}" "${RESULT[$1-bound-baseline]:-0}"; }
row "workload" "gamerelay" "coturn" "g/c" "baseline" "g/base"
row "(a) fan-out 1, max delivered/s with < 1 % loss" "$(atleast "${RESULT[a-gamerelay]:-n/a}" "${RESULT[a-bound-gamerelay]:-0}")" "$(atleast "${RESULT[a-coturn]:-n/a}" "${RESULT[a-bound-coturn]:-0}")" "$(max_ratio a)" "$(maxbase a)" "$(gbase a)"
row "(b) fan-out 7, max delivered/s with < 1 % loss" "$(atleast "${RESULT[b-gamerelay]:-n/a}" "${RESULT[b-bound-gamerelay]:-0}")" "$(atleast "${RESULT[b-coturn]:-n/a}" "${RESULT[b-bound-coturn]:-0}")" "$(max_ratio b)" "$(maxbase b)" "$(gbase b)"
row "(c) fan-out 7 @ ~150k/s, relay CPU µs per delivery" "$(fmt "${RESULT[c-gamerelay]:-}" 3)" "$(fmt "${RESULT[c-coturn]:-}" 3)" "$(ratio "${RESULT[c-gamerelay]:-}" "${RESULT[c-coturn]:-}")" "$(base c 3)" "$(gbase c)"
row "    delivered/s in (c)" "$(fmt "${RESULT[c-delivered-gamerelay]:-}" 0)" "$(fmt "${RESULT[c-delivered-coturn]:-}" 0)" "" "$(fmt "${RESULT[c-delivered-baseline]:-}" 0)" ""
row "    loss % in (c)" "$(fmt "${RESULT[c-loss-gamerelay]:-}" 2)" "$(fmt "${RESULT[c-loss-coturn]:-}" 2)" "" "$(fmt "${RESULT[c-loss-baseline]:-}" 2)" ""
row "(c1) fan-out 1 @ 150k/s, relay CPU µs per delivery" "$(fmt "${RESULT[c1-gamerelay]:-}" 3)" "$(fmt "${RESULT[c1-coturn]:-}" 3)" "$(ratio "${RESULT[c1-gamerelay]:-}" "${RESULT[c1-coturn]:-}")" "$(base c1 3)" "$(gbase c1)"
row "    loss % in (c1)" "$(fmt "${RESULT[c1-loss-gamerelay]:-}" 2)" "$(fmt "${RESULT[c1-loss-coturn]:-}" 2)" "" "$(fmt "${RESULT[c1-loss-baseline]:-}" 2)" ""
row "(d) 50×8 @ 30 Hz, 100 B: one-way p50 µs" "$(fmt "${RESULT[d50-gamerelay]:-}" 1)" "$(fmt "${RESULT[d50-coturn]:-}" 1)" "$(ratio "${RESULT[d50-gamerelay]:-}" "${RESULT[d50-coturn]:-}")" "$(base d50 1)" "$(gbase d50)"
row "(d) 50×8 @ 30 Hz, 100 B: one-way p99 µs" "$(fmt "${RESULT[d99-gamerelay]:-}" 1)" "$(fmt "${RESULT[d99-coturn]:-}" 1)" "$(ratio "${RESULT[d99-gamerelay]:-}" "${RESULT[d99-coturn]:-}")" "$(base d99 1)" "$(gbase d99)"
row "    loss % in (d)" "$(fmt "${RESULT[d-loss-gamerelay]:-}" 2)" "$(fmt "${RESULT[d-loss-coturn]:-}" 2)" "" "$(fmt "${RESULT[d-loss-baseline]:-}" 2)" ""
row "(e) RSS growth, 0 → 1000 bound members, MB" "$(fmt "${RESULT[e-gamerelay]:-}" 2)" "$(fmt "${RESULT[e-coturn]:-}" 2)" "$(ratio "${RESULT[e-gamerelay]:-}" "${RESULT[e-coturn]:-}")" "$(base e 2)" "$(gbase e)"
echo
echo "gamerelay --threads 2, unpinned (for information: the generator shares the cores):"
row "(b2) fan-out 7, max delivered/s with < 1 % loss" "$(atleast "${RESULT[b2-gamerelay-t2]:-n/a}" "${RESULT[b2-bound-gamerelay-t2]:-0}")" "" "" "$(atleast "${RESULT[b2-baseline-t2]:-n/a}" "${RESULT[b2-bound-baseline-t2]:-0}")" "$(ratio "${RESULT[b2-gamerelay-t2]:-}" "${RESULT[b2-baseline-t2]:-}")"
echo
echo "coturn with relayed peers (both ends behind TURN, each delivery crossing coturn twice):"
printf '%-52s %14s %14s %10s\n' "(c) fan-out 7 @ ~150k/s, relay CPU µs per delivery" "$(fmt "${RESULT[c-gamerelay]:-}" 3)" "$(fmt "${RESULT[c-coturn-relayed]:-}" 3)" "$(ratio "${RESULT[c-gamerelay]:-}" "${RESULT[c-coturn-relayed]:-}")"
printf '%-52s %14s %14s %10s\n' "    loss % in (c)" "$(fmt "${RESULT[c-loss-gamerelay]:-}" 2)" "$(fmt "${RESULT[c-loss-coturn-relayed]:-}" 2)" ""
printf '%-52s %14s %14s %10s\n' "(d) 50×8 @ 30 Hz, 100 B: one-way p50 µs" "$(fmt "${RESULT[d50-gamerelay]:-}" 1)" "$(fmt "${RESULT[d50-coturn-relayed]:-}" 1)" "$(ratio "${RESULT[d50-gamerelay]:-}" "${RESULT[d50-coturn-relayed]:-}")"
printf '%-52s %14s %14s %10s\n' "(d) 50×8 @ 30 Hz, 100 B: one-way p99 µs" "$(fmt "${RESULT[d99-gamerelay]:-}" 1)" "$(fmt "${RESULT[d99-coturn-relayed]:-}" 1)" "$(ratio "${RESULT[d99-gamerelay]:-}" "${RESULT[d99-coturn-relayed]:-}")"
echo
echo "(f) tick sessions: 8 sessions × 32 members, 100 B LATEST broadcasts at 30 Hz (238k deliveries/s one by one):"
# frow LABEL TICK ONE-BY-ONE COTURN TICK/ONE TICK/COTURN
frow() { printf '%-52s %14s %14s %14s %10s %10s\n' "$@"; }
# pct PART WHOLE: PART as a percentage of WHOLE.
pct() { awk -v p="${1:-}" -v w="${2:-}" 'BEGIN { if (p == "" || w == "" || w + 0 == 0) print "n/a"; else printf "%.2f", p / w * 100 }'; }
frow "workload" "tick 30 Hz" "one by one" "coturn" "tick/1by1" "tick/coturn"
frow "(f) relay CPU µs per delivered update" "$(fmt "${RESULT[f-gamerelay-tick]:-}" 3)" "$(fmt "${RESULT[f-gamerelay-metrics]:-}" 3)" "$(fmt "${RESULT[f-coturn]:-}" 3)" \
    "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-gamerelay-metrics]:-}")" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-coturn]:-}")"
frow "    relay CPU µs per datagram sent (coturn: estimated)" "-" "$(fmt "${RESULT[f-sent-gamerelay-metrics]:-}" 3)" "$(fmt "${RESULT[f-sent-coturn]:-}" 3)" \
    "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-sent-gamerelay-metrics]:-}")" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-sent-coturn]:-}")"
frow "    relay CPU µs per expected delivery (lower bound)" "-" "$(fmt "${RESULT[f-expected-cpu-gamerelay-metrics]:-}" 3)" "$(fmt "${RESULT[f-expected-cpu-coturn]:-}" 3)" \
    "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-expected-cpu-gamerelay-metrics]:-}")" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-expected-cpu-coturn]:-}")"
frow "(f) latency per update p50 µs" "$(fmt "${RESULT[f50-gamerelay-tick]:-}" 1)" "$(fmt "${RESULT[f50-gamerelay-metrics]:-}" 1)" "$(fmt "${RESULT[f50-coturn]:-}" 1)" \
    "$(ratio "${RESULT[f50-gamerelay-tick]:-}" "${RESULT[f50-gamerelay-metrics]:-}")" "$(ratio "${RESULT[f50-gamerelay-tick]:-}" "${RESULT[f50-coturn]:-}")"
frow "(f) latency per update p99 µs" "$(fmt "${RESULT[f99-gamerelay-tick]:-}" 1)" "$(fmt "${RESULT[f99-gamerelay-metrics]:-}" 1)" "$(fmt "${RESULT[f99-coturn]:-}" 1)" \
    "$(ratio "${RESULT[f99-gamerelay-tick]:-}" "${RESULT[f99-gamerelay-metrics]:-}")" "$(ratio "${RESULT[f99-gamerelay-tick]:-}" "${RESULT[f99-coturn]:-}")"
frow "    updates delivered/s" "$(fmt "${RESULT[f-updates-gamerelay-tick]:-}" 0)" "$(fmt "${RESULT[f-updates-gamerelay-metrics]:-}" 0)" "$(fmt "${RESULT[f-updates-coturn]:-}" 0)" "" ""
frow "    datagrams received/s" "$(fmt "${RESULT[f-datagrams-gamerelay-tick]:-}" 0)" "$(fmt "${RESULT[f-datagrams-gamerelay-metrics]:-}" 0)" "$(fmt "${RESULT[f-datagrams-coturn]:-}" 0)" "" ""
frow "    superseded, % of expected deliveries" "$(pct "${RESULT[f-superseded-gamerelay-tick]:-}" "${RESULT[f-expected-gamerelay-tick]:-}")" "-" "-" "" ""
frow "    loss % (superseded not counted)" "$(fmt "${RESULT[f-loss-gamerelay-tick]:-}" 2)" "$(fmt "${RESULT[f-loss-gamerelay-metrics]:-}" 2)" "$(fmt "${RESULT[f-loss-coturn]:-}" 2)" "" ""
# target LABEL VALUE LIMIT RUNS...: "met" or "NOT met" for VALUE <= LIMIT, n/a when either is
# unknown; "unsettled" instead when one of the (f) RUNS it compares was generator-bound, since
# that run's figure is then partly the generator's (a backlog in its receive queues inflates
# latency, and the relay's sends into full queues inflate its CPU per delivered update).
target() {
    local label=$1 value=${2:-} limit=${3:-} run bound=()
    shift 3
    for run in "$@"; do generator_bound "f-$run" && bound+=("$run"); done
    awk -v v="$value" -v l="$limit" -v label="$label" -v bound="${bound[*]}" 'BEGIN {
        if (v == "" || l == "" || v == "n/a" || l == "n/a") { printf "  target %s: n/a\n", label; exit }
        verdict = (v + 0 <= l + 0) ? "met" : "NOT met"
        if (bound != "") verdict = "unsettled, " verdict " as measured, but generator-bound: " bound
        printf "  target %s: %s (%s against %s)\n", label, verdict, v, l }'
}
target "relay CPU per update, tick <= 0.20 × one by one" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-gamerelay-metrics]:-}")" 0.20 gamerelay-tick gamerelay-metrics
target "relay CPU per update, tick <= 0.15 × coturn" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-coturn]:-}")" 0.15 gamerelay-tick coturn
# The same targets against figures a generator-bound run does not inflate: the relays' CPU per
# datagram sent (datagrams sent into the generator's full receive queues count as work done),
# and, stricter still, per delivery the workload asks for (at most the cost per datagram sent,
# whatever the generator kept up with).
target "relay CPU per update, tick <= 0.20 × one by one per datagram sent" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-sent-gamerelay-metrics]:-}")" 0.20
target "relay CPU per update, tick <= 0.15 × coturn per datagram sent" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-sent-coturn]:-}")" 0.15
target "relay CPU per update, tick <= 0.20 × one by one per expected delivery" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-expected-cpu-gamerelay-metrics]:-}")" 0.20
target "relay CPU per update, tick <= 0.15 × coturn per expected delivery" "$(ratio "${RESULT[f-gamerelay-tick]:-}" "${RESULT[f-expected-cpu-coturn]:-}")" 0.15
F99_LIMIT=$(awk -v p="${RESULT[f99-gamerelay-metrics]:-}" 'BEGIN { if (p == "") print "n/a"; else printf "%.1f", 33333.3 + p }')
target "p99 per update, tick <= 33333.3 µs + one-by-one p99" "$(fmt "${RESULT[f99-gamerelay-tick]:-}" 1)" "$F99_LIMIT" gamerelay-tick gamerelay-metrics
echo
echo "A TURN sender sends one ChannelData per receiver (the protocol's cost): at fan-out 7 the generator"
echo "sends 7 datagrams where gamerelay's sends 1, so TURN runs hit the generator's limit sooner."
echo "(a), (b): each member's due datagrams leave in one segmented send (UDP GSO); (c)-(e): one send each."
echo ">= N: the generator's limit was reached first (or every rung passed); the relay's maximum is at"
echo "least N, and a ratio is marked >=, <= or ~ when gamerelay's, coturn's or both figures are such bounds."
if (( ${#FLAGS[@]} > 0 )); then
    echo "Generator-bound runs (figures are the generator's limit, not the relay's):"
    for flag in "${FLAGS[@]}"; do echo "  ! $flag"; done
else
    echo "No run was generator-bound."
fi
(( OUT_OF_TIME )) && echo "Some runs were skipped to stay within the ${BUDGET_SECONDS}s budget (n/a above)."
echo "(total $(( SECONDS - START ))s)"
