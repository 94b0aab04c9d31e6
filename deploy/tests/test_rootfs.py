"""The container image's runtime, proven without a Docker engine.

A Debian bookworm root made by `debootstrap --variant=minbase` (the package
set that debian:bookworm-slim is made from) gets exactly what the runtime
stage of deploy/Dockerfile does to it: its RUN instructions are executed in
the chroot (apt-get install of libuv1 and libssl3, the fixed-UID user), the
static binary is copied to the same path, and the relay is started as the
Dockerfile's USER with its ENTRYPOINT. Then, from the host, a full relay
exchange over loopback (the chroot shares the host's network namespace), and
SIGTERM must drain and exit 0.

Environment:
  GAMERELAY_ROOTFS        where the prepared root is cached
                          (default: <repo>/.build-deploy/rootfs); rebuilt when
                          the runtime stage's FROM or RUN lines change.
  GAMERELAY_DEBIAN_MIRROR Debian mirror (default: the archive the host's apt uses).
Needs root (debootstrap, chroot, mount) and debootstrap installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import dockerfile_model
import relayproto
from conftest import REPO, SCRATCH, require_tool

ROOTFS = Path(os.environ.get("GAMERELAY_ROOTFS", SCRATCH / "rootfs"))
def _apt_mirror() -> str:
    """The Debian archive the host's apt already uses (first `URIs:` or `deb` entry)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text().splitlines():
            parts = line.split()
            if len(parts) > 1 and parts[0] == "deb":
                return parts[1]
    raise RuntimeError("no Debian mirror configured for apt; set GAMERELAY_DEBIAN_MIRROR")


MIRROR = os.environ.get("GAMERELAY_DEBIAN_MIRROR") or _apt_mirror()
MARKER = ".gamerelay-rootfs.json"
CHROOT_ENV = {
    # What a container started from debian:bookworm-slim sees, and no more.
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME": "gamerelay-test",
    "LANG": "C.UTF-8",
}
# Debian packages that the binary may link against: libuv, OpenSSL 3
# (libssl3 holds both libssl.so.3 and libcrypto.so.3), the C++ runtime
# (libstdc++6, libgcc-s1) and glibc (libc, libm, the loader, ...). On bookworm
# libuv1 and libssl3 each depend on libc6 alone, so they pull in nothing else.
ALLOWED_LIB_PACKAGES = {"libuv1", "libssl3", "libstdc++6", "libgcc-s1", "libc6"}
# What the runtime stage asks apt for, and (sorted) what that adds to the root.
RUNTIME_PACKAGES = ["libuv1", "libssl3"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for debootstrap, chroot and mount")


def runtime_stage() -> dockerfile_model.Stage:
    _, stages = dockerfile_model.parse()
    return stages[-1]


def _run(argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    assert result.returncode == 0, f"{argv} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _installed_packages(root: Path) -> set[str]:
    out = _run(["chroot", str(root), "dpkg-query", "-W", "-f", "${Package}\\n"], 60, env=CHROOT_ENV).stdout
    return set(out.split())


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def _unmount_under(path: Path) -> None:
    """Unmount what a killed earlier run may have left mounted in the root
    (its /proc), so that nothing below ever deletes through a mount."""
    for point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], timeout=30, check=False)
    left = _mounts_under(path)
    assert not left, f"still mounted under {path}: {left}"


def _build_root(stage: dockerfile_model.Stage, key: dict) -> None:
    require_tool("debootstrap", "apt-get install debootstrap")
    staging = ROOTFS.with_name(ROOTFS.name + ".partial")
    if staging.exists():
        _unmount_under(staging)
        shutil.rmtree(staging)
    suite = key["suite"]
    _run(["debootstrap", "--variant=minbase", suite, str(staging), MIRROR], 1500)
    base = _installed_packages(staging)
    # debootstrap leaves the host's resolv.conf out on some versions; apt
    # inside the chroot needs it to reach the mirror.
    shutil.copyfile("/etc/resolv.conf", staging / "etc/resolv.conf")
    env = dict(CHROOT_ENV, DEBIAN_FRONTEND="noninteractive")
    for run in stage.all("RUN"):
        _run(["chroot", str(staging), "/bin/sh", "-c", run.args], 900, env=env)
    added = sorted(_installed_packages(staging) - base)
    (staging / MARKER).write_text(json.dumps(dict(key, added=added), indent=2))
    if ROOTFS.exists():
        _unmount_under(ROOTFS)
        shutil.rmtree(ROOTFS)
    staging.rename(ROOTFS)


@pytest.fixture(scope="module")
def rootfs(relay_binary: Path):
    """The prepared root with /proc mounted and the binary copied in."""
    stage = runtime_stage()
    assert stage.base == "debian:bookworm-slim", f"runtime base changed to {stage.base}: update this test"
    key = {"suite": "bookworm", "variant": "minbase", "mirror": MIRROR,
           "runs": hashlib.sha256("\n".join(r.args for r in stage.all("RUN")).encode()).hexdigest()}
    marker = ROOTFS / MARKER
    started = time.monotonic()
    cached = False
    if marker.exists():
        recorded = json.loads(marker.read_text())
        cached = all(recorded.get(k) == v for k, v in key.items())
    elif ROOTFS.exists() and any(ROOTFS.iterdir()):
        pytest.fail(f"{ROOTFS} exists but was not made by this test (no {MARKER}); "
                    "remove it or point GAMERELAY_ROOTFS elsewhere")
    if not cached:
        _build_root(stage, key)
    prepare_seconds = time.monotonic() - started

    # COPY --from=builder /out/gamerelay /usr/local/bin/gamerelay
    copy = stage.one("COPY").args.split()
    destination = ROOTFS / copy[-1].lstrip("/")
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(relay_binary, destination)
    destination.chmod(0o755)

    proc_dir = ROOTFS / "proc"
    _unmount_under(ROOTFS)
    _run(["mount", "-t", "proc", "proc", str(proc_dir)], 30)
    try:
        yield {"root": ROOTFS, "stage": stage, "binary": "/" + copy[-1].lstrip("/"),
               "cached": cached, "prepare_seconds": prepare_seconds,
               "added": json.loads(marker.read_text())["added"]}
    finally:
        subprocess.run(["umount", str(proc_dir)], timeout=30, check=False)


def test_runtime_stage_installs_only_libuv_and_libssl(rootfs):
    """The runtime stage asks apt for libuv1 and libssl3 alone, and that is
    all it adds to the minbase root (both need nothing beyond libc6, which the
    root already has)."""
    asked = [p for run in rootfs["stage"].all("RUN") for p in dockerfile_model.apt_installs(run.args)]
    assert asked == RUNTIME_PACKAGES, asked
    assert rootfs["added"] == sorted(RUNTIME_PACKAGES), f"the runtime stage added {rootfs['added']}"
    print(f"\nroot {'reused from cache' if rootfs['cached'] else 'built'} in "
          f"{rootfs['prepare_seconds']:.1f} s at {rootfs['root']}; packages added: {rootfs['added']}")


def test_binary_links_only_libuv_libssl_libstdcxx_libc(rootfs):
    root = str(rootfs["root"])
    out = _run(["chroot", root, "ldd", rootfs["binary"]], 60, env=CHROOT_ENV).stdout
    print("\n" + out)
    assert "not found" not in out, out
    assert not re.search(r"libswift|libFoundation|libdispatch|libBlocksRuntime", out), \
        "the binary still needs the Swift runtime: build it with --static-swift-stdlib"
    paths = re.findall(r"(?:=>\s*)?(/\S+)\s+\(0x", out)
    assert paths, out
    owners: dict[str, str] = {}
    for path in paths:
        real = _run(["chroot", root, "realpath", path], 30, env=CHROOT_ENV).stdout.strip()
        for candidate in (path, real, re.sub(r"^/usr/lib/", "/lib/", real)):
            found = subprocess.run(["chroot", root, "dpkg", "-S", candidate], capture_output=True,
                                   text=True, timeout=30, env=CHROOT_ENV)
            if found.returncode == 0:
                owners[path] = found.stdout.split(":", 1)[0].strip()
                break
        else:
            pytest.fail(f"no Debian package owns {path} ({real})")
    packages = set(owners.values())
    print("owners: " + ", ".join(f"{Path(p).name} <- {pkg}" for p, pkg in owners.items()))
    assert packages <= ALLOWED_LIB_PACKAGES, f"unexpected libraries: {owners}"
    assert {"libuv1", "libssl3", "libstdc++6"} <= packages, owners
    sonames = {Path(p).name for p in owners}
    assert {"libssl.so.3", "libcrypto.so.3"} <= sonames, sorted(sonames)


def test_relay_runs_as_image_user_and_forwards(rootfs):
    stage = rootfs["stage"]
    user = stage.one("USER").args
    uid = int(user.split(":")[0])
    assert uid != 0
    entrypoint = stage.one("ENTRYPOINT").exec_form()
    assert entrypoint[0] == rootfs["binary"]
    # The image's CMD is replaced, as `docker run IMAGE --host ... --port 0`
    # would: loopback only, and a free port.
    argv = ["chroot", f"--userspec={user}", str(rootfs["root"])] + entrypoint + \
        ["--host", "127.0.0.1", "--port", "0"]
    started = time.monotonic()
    relay = relayproto.RelayProcess(argv, start_timeout=20, env=CHROOT_ENV)
    try:
        ready_seconds = time.monotonic() - started
        host, port = relay.split_address(relay.listening["control"])
        udp_host, udp_port = relay.split_address(relay.listening["udp"])
        assert host == udp_host == "127.0.0.1" and port == udp_port and port > 0, relay.listening
        running_as = Path(f"/proc/{relay.proc.pid}/status").read_text()
        assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s", running_as, re.M), "relay is not running as the image's USER"

        seen = relayproto.full_exchange(host, port, udp_port)
        assert seen["members"] == [1, 2]
        status, drain_seconds = relayproto.drain_and_stop(relay, seen["controls"], timeout=15)
        assert status == 0, f"exit status {status} after SIGTERM; stderr: {relay.stderr_tail()!r}"
        print(f"\nlistening after {ready_seconds:.2f} s: {relay.listening}; forwarded "
              f"{len(seen['forwarded'])} bytes from member 1 to member 2; SIGTERM -> exit 0 "
              f"in {drain_seconds:.2f} s")
    finally:
        relay.kill()
