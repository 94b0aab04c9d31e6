#!/usr/bin/env bash
# Builds the one release `gamerelay` the scripts share, and prints its path on stdout (the
# build's own output goes to stderr). It links the Swift runtime statically
# (--static-swift-stdlib), so the same binary serves (scripts/serve.sh), runs the deployment
# tests and the container image's runtime checks (scripts/test.sh, deploy/tests) and the
# protocol conformance suite (.ci/run): one release build instead of one per script. Its
# SwiftPM scratch path is .build-release; a second call only checks that it is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-release
swift build -c release --static-swift-stdlib --product gamerelay --scratch-path "$scratch" >&2
echo "$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/gamerelay"
