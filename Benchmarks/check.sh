#!/usr/bin/env bash
# Gates CI on the benchmarks' malloc counts (deterministic; time is never gated): runs every
# benchmark with `benchmark thresholds check` against Thresholds/<Swift major.minor>/ and exits
# non-zero when a count regressed, when a count fell below its recorded threshold (record the
# improvement with `thresholds update`, see README.md), or when a benchmark has no thresholds file.
#
# Usage: Benchmarks/check.sh   (from anywhere; builds the benchmark package in release first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

swift_version=$(swift --version 2>&1 | sed -n 's/^.*Swift version \([0-9][0-9]*\.[0-9][0-9]*\).*$/\1/p' | head -n 1)
thresholds="Thresholds/${swift_version}"
update_hint="cd Benchmarks && swift package --disable-sandbox --allow-writing-to-package-directory benchmark thresholds update --path $thresholds --metric mallocCountTotal"
if [[ -z $swift_version || ! -d $thresholds ]]; then
    echo "check.sh: no thresholds for Swift ${swift_version:-(unknown)} in Benchmarks/$thresholds" >&2
    echo "check.sh: record them with: $update_hint" >&2
    exit 1
fi

timeout 600 swift package resolve

# A benchmark without a thresholds file would be skipped silently: require one for each.
if ! listing=$(timeout 1500 swift package --disable-sandbox benchmark list 2>&1); then
    echo "$listing" >&2
    echo "check.sh: could not build or list the benchmarks" >&2
    exit 1
fi
target=""
benchmarks=0
missing=0
while IFS= read -r line; do
    if [[ $line =~ ^Target\ \'([^\']+)\'\ available\ benchmarks:$ ]]; then
        target=${BASH_REMATCH[1]}
        continue
    fi
    if [[ -z $line ]]; then
        target=""
        continue
    fi
    [[ -n $target ]] || continue
    benchmarks=$((benchmarks + 1))
    if [[ ! -f "$thresholds/$target.$line.p90.json" ]]; then
        echo "check.sh: $target:$line has no thresholds file ($thresholds/$target.$line.p90.json)" >&2
        missing=$((missing + 1))
    fi
done <<< "$listing"
if (( benchmarks == 0 )); then
    echo "$listing" >&2
    echo "check.sh: no benchmarks found" >&2
    exit 1
fi
if (( missing > 0 )); then
    echo "check.sh: record the missing thresholds with: $update_hint" >&2
    exit 1
fi

# Only mallocCountTotal is measured and compared, as it was recorded. `swift package` exits 1 on
# any failure of the plugin, so the verdict is read from the tool's own words.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
timeout 1500 swift package --disable-sandbox benchmark thresholds check \
    --path "$thresholds" --metric mallocCountTotal --no-progress 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
if (( status == 0 )); then
    echo "benchmarks: $benchmarks passed, 0 failed"
elif grep -q "is WORSE than the defined thresholds" "$log"; then
    echo "check.sh: malloc counts regressed (above). Find the call sites with:" >&2
    echo "check.sh:   cd Benchmarks && swift package --disable-sandbox benchmark run --allocation-stacks --filter '<name>'" >&2
    exit 2
elif grep -q "is BETTER than the defined thresholds" "$log"; then
    echo "check.sh: malloc counts fell below the recorded thresholds (above). If that is real, record it:" >&2
    echo "check.sh:   $update_hint" >&2
    echo "check.sh: (the positive control reading 0 means malloc counting is off: keep traits: [\"MallocInterposer\"])" >&2
    exit 4
else
    echo "check.sh: the threshold check failed (exit $status)" >&2
    exit "$status"
fi
