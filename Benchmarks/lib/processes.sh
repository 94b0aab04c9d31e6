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
