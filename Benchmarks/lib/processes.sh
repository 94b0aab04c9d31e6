# Process handling shared by the benchmark scripts (sourced, not run): stopping what a script
# started, and no more; a watchdog that ends a script at its time budget; finding (or building)
# the release relay.

# TERM, up to $2 seconds' grace, then KILL; only the process started under that id.
stop_pid() {
    local pid="$1" grace="$2"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $(( grace * 20 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Starts the watchdog: after $2 seconds it stops the script $1 (and, through the script's EXIT
# trap, everything the script started). Sets WATCHDOG_PID.
start_watchdog() {
    local name="$1" seconds="$2"
    ( sleep "$seconds"; echo "$name: the ${seconds}s budget ran out; stopping" >&2; kill -TERM $$ ) &
    WATCHDOG_PID=$!
}

# Stops the watchdog, if it runs: the watchdog first (so it can't report its sleep's death),
# then its sleep.
stop_watchdog() {
    if [[ -n "${WATCHDOG_PID:-}" ]] && kill -0 "$WATCHDOG_PID" 2>/dev/null; then
        local sleeper; sleeper=$(pgrep -P "$WATCHDOG_PID" sleep || true)
        kill "$WATCHDOG_PID" 2>/dev/null || true
        [[ -n "$sleeper" ]] && kill "$sleeper" 2>/dev/null || true
    fi
}

# Sets RELAY_BIN, when empty, to the repository's release build (building it when missing), and
# ends the script $1 when there is no executable relay at RELAY_BIN. Needs REPO.
find_relay_bin() {
    local name="$1"
    if [[ -z "${RELAY_BIN:-}" ]]; then
        RELAY_BIN="$(cd "$REPO" && swift build -c release --show-bin-path)/gamerelay"
        if [[ ! -x "$RELAY_BIN" ]]; then
            echo "== building (release)"
            ( cd "$REPO" && swift build -c release --product gamerelay 2>&1 | tail -n 3 )
        fi
    fi
    [[ -x "$RELAY_BIN" ]] || { echo "$name: no gamerelay binary at $RELAY_BIN" >&2; exit 1; }
}

# Whether the relay the script started still runs.
relay_alive() { [[ -n "${RELAY_PID:-}" ]] && kill -0 "$RELAY_PID" 2>/dev/null; }

# Starts the relay: the command is the arguments after the script's name $1 (a pinning prefix,
# RELAY_BIN and its arguments), its stdout and stderr go to $WORK/relay.out and relay.log. Waits
# up to 10 s for the readiness line; sets RELAY_PID, READY (the line) and PORT (the control
# port), or ends the script saying why.
start_relay() {
    local name="$1"; shift
    "$@" >"$WORK/relay.out" 2>"$WORK/relay.log" &
    RELAY_PID=$!
    for _ in $(seq 200); do
        [[ -s "$WORK/relay.out" ]] && break
        relay_alive || break
        sleep 0.05
    done
    READY="$(head -n 1 "$WORK/relay.out" 2>/dev/null || true)"
    PORT="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["control"].rsplit(":",1)[1])' "$READY" 2>/dev/null || true)"
    if [[ -z "$PORT" ]]; then
        echo "$name: the relay did not report its ports; its output and log:" >&2
        cat "$WORK/relay.out" >&2; tail -n 20 "$WORK/relay.log" >&2
        exit 1
    fi
}
