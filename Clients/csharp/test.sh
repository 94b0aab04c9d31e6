#!/usr/bin/env bash
# Builds the C# client, its tests and the gamerelay-cs sample with Mono's mcs (C# 6), and runs
# the tests against a real relay: GAMERELAY_BIN, or the release build of scripts/release.sh when
# unset. Installs Mono (and openssl, which makes the TLS test's certificate) with apt when
# missing; that needs root or sudo. Arguments select tests by name (substring match).
# Prints `N passed, N failed` last and exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# mono-mcs: the compiler; mono-runtime: the VM, mscorlib and System.dll (SslStream and its
# TLS 1.2 provider come with it).
missing=()
command -v mcs >/dev/null 2>&1 || missing+=(mono-mcs)
command -v mono >/dev/null 2>&1 || missing+=(mono-runtime)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
"$repo/scripts/apt-install.sh" "${missing[@]}"

if [ -z "${GAMERELAY_BIN:-}" ]; then
    GAMERELAY_BIN="$("$repo/scripts/release.sh")"
fi
[ -x "$GAMERELAY_BIN" ] || { echo "test.sh: no relay binary at $GAMERELAY_BIN" >&2; exit 1; }
export GAMERELAY_BIN

# Unity ignores a file without its .meta in a package added by git URL (read-only): every
# file and folder outside the `~` folders (which Unity skips) needs one.
missing_meta=$(cd "$here" && find . -mindepth 1 \( -name '*~' -o -name '.*' \) -prune -o ! -name '*.meta' -print |
    while read -r path; do [ -f "$path.meta" ] || echo "$path"; done)
if [ -n "$missing_meta" ]; then
    echo "test.sh: no .meta file for:" $missing_meta "(open the package in Unity once, or copy a sibling's .meta with a new guid)" >&2
    exit 1
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-langversion:6 -warnaserror+ -nologo -r:System.dll)
mcs "${flags[@]}" -target:library -doc:"$out/GameRelay.xml" -out:"$out/GameRelay.dll" "$here"/Runtime/*.cs
mcs "${flags[@]}" -r:"$out/GameRelay.dll" -out:"$out/gamerelay-cs.exe" "$here/Tools~/gamerelay-cs/GameRelayCs.cs"
# The Unity sample against a stub of the UnityEngine types it uses: a compile check only.
mcs "${flags[@]}" -target:library -out:"$out/UnityEngine.dll" "$here/Tools~/unity-stub/UnityEngine.cs"
mcs "${flags[@]}" -target:library -r:"$out/GameRelay.dll" -r:"$out/UnityEngine.dll" -out:"$out/Samples.dll" "$here"/Samples~/*/*.cs
mcs "${flags[@]}" -out:"$out/GameRelay.Tests.exe" "$here"/Runtime/*.cs "$here"/Tests/Editor/*.cs
mono --debug "$out/GameRelay.Tests.exe" "$@"
