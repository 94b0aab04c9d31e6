#!/usr/bin/env bash
# One command that runs every test of the repository:
#   1. the Swift suites (unit, real-socket on loopback, in-process relay, and
#      end-to-end tests that run the built `gamerelay` binary);
#   2. the deployment tests in deploy/tests (manifests, systemd unit, Prometheus
#      config and a real Prometheus scrape, and the container runtime proven in
#      a debootstrap'd Debian root) - these need root or sudo, like the setup.
# Extra arguments go to `swift test` (e.g. --filter RelayWireTests); set
# GAMERELAY_SKIP_DEPLOY_TESTS=1 to run only the Swift suites.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The TURN client's integration tests run against coturn's turnserver.
if ! command -v turnserver >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq coturn >/dev/null
fi
swift build --build-tests
swift test --skip-build "$@"
if [ "${GAMERELAY_SKIP_DEPLOY_TESTS:-0}" != "1" ]; then
    deploy/tests/run.sh
fi
