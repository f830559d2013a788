"""Throwaway virtual environments for Python peers (official storage SDK, LiteLLM).

They live in bench/.peers/<name>, apart from .venv: a peer's dependencies never touch ours
or requirements.lock. Requirements are pinned; a stamp file makes the second run instant.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.node import PeerUnavailable

PEERS_DIR = Path(__file__).resolve().parent / ".peers"


def peer_python(name: str, requirements: list[str]) -> Path:
    """The python of venv `name` with exactly `requirements` installed (created if needed)."""
    venv = PEERS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / "requirements.json"
    if python.exists() and stamp.exists() and json.loads(stamp.read_text()) == requirements:
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # sys.executable may be .venv's python; venv builds from the base interpreter either way.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PeerUnavailable(f"pip install {' '.join(requirements)} failed: {done.stderr[-500:]}")
    stamp.write_text(json.dumps(requirements))
    return python


def run_python(python: Path, script: Path, args: list[str], timeout: float) -> Any:
    """Run a peer script in its venv (isolated from our sys.path); its stdout as JSON."""
    done = subprocess.run(
        [str(python), "-I", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)
