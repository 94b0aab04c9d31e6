#!/usr/bin/env bash
# One command that runs every test of the repository: installs libuv if needed,
# then builds and runs the Swift test suites (unit, real-socket and end-to-end
# tests that spawn the built `gamerelay` binary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
