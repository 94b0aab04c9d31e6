#!/usr/bin/env bash
# Installs the Debian packages named as arguments with apt-get, as root or through sudo: the one
# place the setup and the clients' test scripts install from. Waits up to 5 minutes for another
# apt or dpkg run to let go of its lock rather than failing.
set -euo pipefail
[ "$#" -gt 0 ] || exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "$(basename "$0"): need root or sudo to install $*" >&2; exit 1; }
    sudo="sudo"
fi
echo "installing $*" >&2
$sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >/dev/null
