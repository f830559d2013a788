"""Runs devnet/compile.mjs, which rebuilds devnet/build only when its inputs changed."""

from __future__ import annotations

import shutil
import subprocess

from devnet.paths import COMPILE_SCRIPT, REPO_ROOT


class BuildFailed(RuntimeError):
    """The contracts did not compile (solc's messages are in the exception)."""


def ensure_built(force: bool = False) -> str:
    """Compiles/extracts the contracts if needed; returns compile.mjs's summary and warnings."""
    node = shutil.which("node")
    if node is None:
        raise BuildFailed("node is not on PATH; the devnet needs Node 20 to compile its contracts")
    args = [node, str(COMPILE_SCRIPT), *(["--force"] if force else [])]
    result = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildFailed(f"{COMPILE_SCRIPT.name} failed:\n{result.stderr}{result.stdout}")
    return (result.stdout + result.stderr).strip()
