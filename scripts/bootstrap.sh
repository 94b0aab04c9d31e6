#!/usr/bin/env bash
# Installs what GameRelay needs on Debian/Ubuntu beyond the Swift 6.3 toolchain:
#   libuv1-dev   libuv, the I/O engine (pkg-config `libuv`, header uv.h)
#   libssl-dev   OpenSSL 3, TLS on the control port (pkg-config `openssl`,
#                header openssl/ssl.h)
#   pkg-config   which SwiftPM asks for both
#   openssl      the command-line tool: the protocol conformance suite that
#                .ci/run starts makes its test certificates with it,
#                SecureSocket's tests talk to `openssl s_server`, and
#                `openssl s_client` checks a running relay's TLS
#   ca-certificates  the system trust store SecureSocket (and `ping --tls`
#                without `--ca`) validates public certificates against
# Each is checked on its own and only the missing ones are installed, so a
# second run does nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

have_pc() { command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" 2>/dev/null; }
# A header where the compiler looks for it (SwiftPM passes pkg-config's
# -I flags too, but Debian's packages put these under /usr/include).
have_header() {
    local dir
    for dir in /usr/include /usr/local/include "/usr/include/$(uname -m)-linux-gnu"; do
        [ -f "$dir/$1" ] && return 0
    done
    return 1
}

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
{ have_pc libuv && have_header uv.h; } || missing+=(libuv1-dev)
{ have_pc openssl && have_header openssl/ssl.h; } || missing+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -s /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

scripts/apt-install.sh "${missing[@]}"
