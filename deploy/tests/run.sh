#!/usr/bin/env bash
# Runs the deploy/ tests: installs what they need, then pytest on deploy/tests.
#
#   deploy/tests/run.sh [pytest args...]
#
# Needs root (apt-get, debootstrap, chroot, mount). Environment:
#   GAMERELAY_STATIC_BIN      use this static `gamerelay` instead of building one
#   GAMERELAY_DEPLOY_SCRATCH  SwiftPM scratch path and cache folder
#                             (default: .build-deploy; holds the venv and the
#                             debootstrap'd root, rootfs/, reused across runs)
#   GAMERELAY_ROOTFS          where the debootstrap'd root is cached
#   GAMERELAY_DEBIAN_MIRROR   Debian mirror for debootstrap
set -euo pipefail
cd "$(dirname "$0")/../.."

export GAMERELAY_DEPLOY_SCRATCH="${GAMERELAY_DEPLOY_SCRATCH:-$PWD/.build-deploy}"
mkdir -p "$GAMERELAY_DEPLOY_SCRATCH"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# System tools: debootstrap (the image's runtime root), promtool (Debian's
# prometheus package), strace (the unit's system-call filter check), curl (the
# Agones bridge script), systemd-analyze (systemd), libuv's and OpenSSL's
# headers (the build).
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ -z "${GAMERELAY_STATIC_BIN:-}" ]; then
    pkg-config --exists libuv 2>/dev/null || missing+=(libuv1-dev pkg-config)
    pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "deploy/tests: installing ${missing[*]}"
    as_root apt-get update -qq
    # Debian's prometheus package tries to start its service; without systemd
    # as PID 1 that step is skipped harmlessly. Only promtool is used.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python tools, pinned, in a virtualenv of their own.
venv="$GAMERELAY_DEPLOY_SCRATCH/venv"
requirements=deploy/tests/requirements.txt
stamp="$venv/.requirements.sha256"
if [ ! -x "$venv/bin/python" ] || ! sha256sum --status -c "$stamp" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    sha256sum "$requirements" >"$stamp"
fi

# The static binary (the tests would build it too; building it here shows
# the build's output and time).
if [ -z "${GAMERELAY_STATIC_BIN:-}" ]; then
    echo "deploy/tests: building the static gamerelay (swift build -c release --static-swift-stdlib)"
    swift build -c release --static-swift-stdlib --product gamerelay \
        --scratch-path "$GAMERELAY_DEPLOY_SCRATCH"
    GAMERELAY_STATIC_BIN="$(swift build -c release --scratch-path "$GAMERELAY_DEPLOY_SCRATCH" --show-bin-path)/gamerelay"
    export GAMERELAY_STATIC_BIN
fi

# pytest exits non-zero on any failure, and with 5 when it collected nothing;
# both fail this script.
status=0
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest deploy/tests -p no:cacheprovider \
    -rfEs --durations=5 "$@" || status=$?
if [ "$status" -eq 5 ]; then
    echo "deploy/tests: pytest collected no tests" >&2
fi
exit "$status"
