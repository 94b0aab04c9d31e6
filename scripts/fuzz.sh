#!/usr/bin/env bash
# Fuzzes the relay's parsers with libFuzzer for a long run. Each target is built on its own
# (release, -sanitize=fuzzer,address, -DFUZZING) and run over its committed corpus in
# Fuzz/Corpus/<target>; what it finds is written to a temporary directory and merged back
# (-set_cover_merge=1: a small set of inputs that covers what the run reached, beside the seed-*
# files, which are always kept). A crash input
# lands in .build-fuzz/artifacts/<target>/: fix the bug, then commit the input under
# Fuzz/Crashes/<target>/ so the replay tests keep it fixed (Fuzz/README.md).
#
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]
#   TARGET   FuzzDatagram, FuzzBind, FuzzControl, FuzzHTTPHead, FuzzTLSHandshake, FuzzTLSClientHandshake, FuzzAggregate, FuzzHTTPResponse, FuzzWebSocketFrames or FuzzWebSocketHandshake (default: all, one
#            after another)
#   SECONDS  how long each target runs (default 600)
# Needs only the Swift toolchain (libFuzzer ships with it). FUZZ_SCRATCH_PATH overrides the
# build directory; extra libFuzzer flags can go in FUZZ_FLAGS (e.g. FUZZ_FLAGS="-max_len=9000").
set -euo pipefail
cd "$(dirname "$0")/.."

all=(FuzzDatagram FuzzBind FuzzControl FuzzHTTPHead FuzzTLSHandshake FuzzTLSClientHandshake FuzzAggregate FuzzHTTPResponse FuzzWebSocketFrames FuzzWebSocketHandshake)
which="${1:-all}"
seconds="${2:-600}"
scratch="${FUZZ_SCRATCH_PATH:-.build-fuzz}"
case "$which" in
    all) targets=("${all[@]}") ;;
    FuzzDatagram | FuzzBind | FuzzControl | FuzzHTTPHead | FuzzTLSHandshake | FuzzTLSClientHandshake | FuzzAggregate | FuzzHTTPResponse | FuzzWebSocketFrames | FuzzWebSocketHandshake) targets=("$which") ;;
    *) echo "usage: $0 [FuzzDatagram|FuzzBind|FuzzControl|FuzzHTTPHead|FuzzTLSHandshake|FuzzTLSClientHandshake|FuzzAggregate|FuzzHTTPResponse|FuzzWebSocketFrames|FuzzWebSocketHandshake|all] [SECONDS]" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "SECONDS must be a whole number, not '$seconds'" >&2; exit 2; }

# libFuzzer reports a crash itself; Swift's backtracer would take over the signal and can hang.
export SWIFT_BACKTRACE=enable=no
flags=(-c release --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --scratch-path "$scratch")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$scratch/logs"
failed=()
summary=()

for target in "${targets[@]}"; do
    echo "== $target: building"
    # One product at a time: libFuzzer supplies main, so these can't link together with gamerelay.
    swift build "${flags[@]}" --product "$target"
    binary="$(swift build "${flags[@]}" --show-bin-path)/$target"
    corpus="Fuzz/Corpus/$target"
    artifacts="$scratch/artifacts/$target/"
    log="$scratch/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$work/$target/new" "$work/$target/merged"
    before="$(find "$corpus" -type f | wc -l)"

    echo "== $target: fuzzing for $seconds s (log: $log)"
    status=0
    # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
    "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$artifacts" ${FUZZ_FLAGS:-} "$work/$target/new" "$corpus" >"$log" 2>&1 || status=$?
    inited="$(grep -m1 'INITED cov:' "$log" || true)"
    final="$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE) ' "$log" | tail -1 || true)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "   ${inited:-no INITED line}"
    echo "   ${final:-no final line}"
    echo "   executions: ${execs:-unknown}"
    if [ "$status" -ne 0 ]; then
        echo "!! $target stopped with status $status; the input is in $artifacts:" >&2
        grep -E 'ERROR|Fatal error|SUMMARY|Test unit written|Base64' "$log" >&2 || true
        failed+=("$target")
        continue
    fi

    # Keep the seeds, and of everything else a small set that adds the same edges to them
    # (set cover over edges, not hit counts, so the committed corpus stays a few hundred files).
    cp "$corpus"/seed-* "$work/$target/merged/" 2>/dev/null || true
    "$binary" -set_cover_merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 \
        "$work/$target/merged" "$corpus" "$work/$target/new" \
        >"$log.merge" 2>&1 || { echo "!! $target: merge failed (see $log.merge)" >&2; failed+=("$target"); continue; }
    find "$corpus" -type f ! -name 'seed-*' -delete
    find "$work/$target/merged" -type f ! -name 'seed-*' -exec cp {} "$corpus/" \;
    after="$(find "$corpus" -type f | wc -l)"
    echo "   corpus: $before -> $after files ($(cat "$corpus"/* | wc -c) bytes)"
    summary+=("$target: ${execs:-?} executions in $seconds s; ${inited:-?}; final: ${final:-?}")
done

echo
for line in "${summary[@]}"; do echo "$line"; done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
