#!/usr/bin/env bash
# One command that runs every test of the repository:
#   1. the Swift suites (unit, real-socket on loopback, in-process relay, and
#      end-to-end tests that run the built `gamerelay` binary), from one debug build;
#   2. the deployment tests in deploy/tests (manifests, systemd unit, Prometheus
#      config and a real Prometheus scrape, and the container runtime proven in
#      a debootstrap'd Debian root) against the release binary of scripts/release.sh,
#      the same one scripts/serve.sh and the conformance suite run - these need root
#      or sudo, like the setup;
#   3. the clients in other languages, each by its own Clients/<language>/test.sh against that
#      same release binary (GAMERELAY_BIN); each installs its toolchain with apt when missing
#      (Clients/js: nodejs, chromium, node-typescript; Clients/csharp: mono-mcs, mono-runtime).
# Extra arguments go to `swift test`. With --filter (e.g. --filter RelayWireTests) only the
# Swift tests run: a filter picks Swift tests, so the deployment and client tests and the release
# build are skipped. GAMERELAY_SKIP_DEPLOY_TESTS=1 skips the deployment tests,
# GAMERELAY_SKIP_CLIENT_TESTS=1 the clients' tests.
set -euo pipefail
cd "$(dirname "$0")/.."
skip_deploy="${GAMERELAY_SKIP_DEPLOY_TESTS:-0}"
skip_clients="${GAMERELAY_SKIP_CLIENT_TESTS:-0}"
for argument in "$@"; do
    case "$argument" in
        --filter|--filter=*) skip_deploy=1; skip_clients=1 ;;
    esac
done
scripts/bootstrap.sh
# The TURN client's integration tests run against coturn's turnserver.
command -v turnserver >/dev/null 2>&1 || scripts/apt-install.sh coturn
swift build --build-tests
# One test at a time (about a minute): many tests wait on real sockets with blocking calls, and
# run side by side on a 2-core machine they can starve each other's async halves for seconds.
swift test --skip-build --no-parallel "$@"
# One release build for the deployment and client tests alike.
if [ "$skip_deploy" != "1" ] || [ "$skip_clients" != "1" ]; then
    bin="$(scripts/release.sh)"
fi
if [ "$skip_deploy" != "1" ]; then
    GAMERELAY_STATIC_BIN="$bin" deploy/tests/run.sh
fi
if [ "$skip_clients" != "1" ]; then
    for client_tests in Clients/*/test.sh; do
        echo "== $client_tests" >&2
        GAMERELAY_BIN="$bin" "$client_tests"
    done
fi
