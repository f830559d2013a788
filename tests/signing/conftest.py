"""Fixtures of the signing tests: the SDK vectors and a bridge to ethers (npm)."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.signing.support import ETHERS_SCRIPT, REPO_ROOT, VECTORS, Ethers


@pytest.fixture(scope="session")
def compute_vectors() -> dict[str, Any]:
    """vectors/compute.json: outputs of the official 0G compute SDK."""
    result: dict[str, Any] = json.loads(VECTORS.read_text())
    return result


@pytest.fixture(scope="session")
def ethers() -> Ethers:
    """Run tests/signing/ethers_interop.mjs on a request; skips only when node is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ethers interoperability checks need Node 20")

    def run(request: dict[str, Any]) -> dict[str, Any]:
        # ethers resolves from the repository's node_modules, found upward from the script.
        done = subprocess.run(
            [node, str(ETHERS_SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    return run
