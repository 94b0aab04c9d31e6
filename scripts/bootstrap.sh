#!/usr/bin/env bash
# Installs what GameRelay needs on Debian/Ubuntu beyond the Swift 6.3 toolchain:
# libuv (the I/O engine) and pkg-config (which finds it). Idempotent; needs root
# (or sudo) only when something is missing.
set -euo pipefail

if pkg-config --exists libuv 2>/dev/null && [ -f /usr/include/uv.h ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install libuv1-dev" >&2; exit 1; }
    sudo="sudo"
fi
echo "bootstrap: installing libuv1-dev and pkg-config" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libuv1-dev pkg-config >/dev/null
