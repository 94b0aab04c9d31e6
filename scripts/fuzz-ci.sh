#!/usr/bin/env bash
# The CI fuzz step: builds each libFuzzer target in turn (one shared scratch path, so the relay's
# modules are compiled once) and runs it briefly over its committed corpus. Fails when a target
# crashes (a broken invariant or a sanitizer report) or shows no coverage (`INITED cov:` missing
# or 0, which means the build lost its instrumentation). New inputs are thrown away; long runs
# that grow the corpus are scripts/fuzz.sh.
#
# Usage: scripts/fuzz-ci.sh   (FUZZ_CI_SECONDS per target, default 30; about 6 minutes in all)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_CI_SECONDS:-30}"
scratch="${FUZZ_SCRATCH_PATH:-.build-fuzz}"
export SWIFT_BACKTRACE=enable=no
flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --scratch-path "$scratch")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in FuzzDatagram FuzzBind FuzzControl FuzzHTTPHead FuzzTLSHandshake FuzzTLSClientHandshake FuzzAggregate FuzzHTTPResponse FuzzWebSocketFrames FuzzWebSocketHandshake; do
    swift build "${flags[@]}" --product "$target"
    binary="$(swift build "${flags[@]}" --show-bin-path)/$target"
    artifacts="$scratch/artifacts/$target/"
    mkdir -p "$artifacts" "$work/$target"
    status=0
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts" "$work/$target" "Fuzz/Corpus/$target" >"$work/$target.log" 2>&1 || status=$?
    log="$work/$target.log"
    inited="$(grep -m1 'INITED cov:' "$log" || true)"
    coverage="$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -1)"
    final="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE) ' "$log" | tail -1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "$target: ${inited:-no INITED line} | ${final:-no final line} | ${execs:-?} executions"
    if [ "$status" -ne 0 ]; then
        echo "!! $target crashed (status $status); input kept in $artifacts" >&2
        grep -E -A30 'ERROR|Fatal error' "$log" | head -60 >&2 || true
        grep -E 'Test unit written|Base64' "$log" >&2 || true
        failed+=("$target")
    elif [ -z "$coverage" ] || [ "$coverage" -eq 0 ]; then
        echo "!! $target reported no coverage: is it built with -sanitize=fuzzer?" >&2
        tail -20 "$log" >&2
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]}" >&2
    exit 1
fi
