#!/usr/bin/env bash
# One command from a fresh clone to a running relay: installs libuv and OpenSSL
# (scripts/bootstrap.sh), builds the release binary (scripts/release.sh, the same build
# scripts/test.sh uses, so after the tests this only checks it is up to date), and starts
# `gamerelay serve` with any flags you pass (default: TCP and UDP port 7400 on
# all IPv4 addresses; add --tls-cert FILE --tls-key FILE for TLS).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
bin="$(scripts/release.sh)"
exec "$bin" serve "$@"
