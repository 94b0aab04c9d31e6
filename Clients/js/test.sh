#!/usr/bin/env bash
# Tests gamerelay.js against the real relay binary: the Node tests (node --test, with a node:net
# WebSocket where Node has none) and the browser test (headless Chromium loading a page over HTTP).
# The relay is GAMERELAY_BIN when set, else the repository's release build (scripts/release.sh).
# Installs nodejs, chromium, node-typescript (tsc checks gamerelay.d.ts) and openssl with apt when
# they are missing (root or sudo needed then).
# The browser test's screenshot lands in GAMERELAY_JS_ARTIFACTS (default Clients/js/.artifacts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "${CHROMIUM_BIN:-}" ] || missing+=(chromium)
command -v tsc >/dev/null 2>&1 || missing+=(node-typescript)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
"$repo/scripts/apt-install.sh" "${missing[@]}"

if [ -z "${GAMERELAY_BIN:-}" ]; then
    GAMERELAY_BIN="$("$repo/scripts/release.sh")"
fi
export GAMERELAY_BIN
echo "Clients/js/test.sh: node $(node --version), relay $GAMERELAY_BIN" >&2

cd "$here"
# The declarations, checked by compiling a TypeScript game's use of them.
tsc --noEmit --strict --target es2022 --module es2022 --moduleResolution node --lib es2022,dom test/types.ts
echo "Clients/js/test.sh: gamerelay.d.ts type-checks (tsc $(tsc --version | cut -d' ' -f2))" >&2
# Files by name: `node --test DIR` means different things across Node 18, 20 and 22.
node --test --test-reporter spec test/client.test.mjs test/browser.test.mjs
