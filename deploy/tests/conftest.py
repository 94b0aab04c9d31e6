"""Shared fixtures for the deploy/ tests.

Environment:
  GAMERELAY_STATIC_BIN    a `gamerelay` built with --static-swift-stdlib; when
                          unset, the fixture builds one (3-4 min on 2 cores).
  GAMERELAY_DEPLOY_SCRATCH SwiftPM scratch path for that build
                          (default: <repo>/.build-deploy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parent.parent
REPO = DEPLOY.parent
SCRATCH = Path(os.environ.get("GAMERELAY_DEPLOY_SCRATCH", REPO / ".build-deploy"))


def tool(name: str) -> str | None:
    """A command on PATH, or next to this Python (a virtualenv's bin/)."""
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else None


def require_tool(name: str, hint: str) -> str:
    found = tool(name)
    if not found:
        pytest.fail(f"`{name}` is not installed ({hint}); deploy/tests/run.sh installs it")
    return found


@pytest.fixture(scope="session")
def relay_binary() -> Path:
    """The static gamerelay binary: $GAMERELAY_STATIC_BIN, or a fresh build."""
    given = os.environ.get("GAMERELAY_STATIC_BIN")
    if given:
        path = Path(given)
        assert path.is_file() and os.access(path, os.X_OK), f"GAMERELAY_STATIC_BIN={given} is not an executable"
        return path.resolve()
    swift = require_tool("swift", "the Swift 6.3 toolchain")
    build = [swift, "build", "-c", "release", "--static-swift-stdlib", "--product", "gamerelay",
             "--scratch-path", str(SCRATCH)]
    result = subprocess.run(build, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"static build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    show = [swift, "build", "-c", "release", "--scratch-path", str(SCRATCH), "--show-bin-path"]
    bin_dir = subprocess.run(show, cwd=REPO,
                             capture_output=True, text=True, timeout=300, check=True).stdout.strip()
    path = Path(bin_dir) / "gamerelay"
    assert path.is_file(), f"no binary at {path}"
    return path
