"""Paths and types the signing tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
# A copy committed beside the tests, so they never skip; test_vectors checks it against
# the shared original (../shared next to the repository) whenever that is present.
VECTORS = HERE / "vectors" / "compute.json"
SHARED_VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "compute.json"
ETHERS_SCRIPT = HERE / "ethers_interop.mjs"

Ethers = Callable[[dict[str, Any]], dict[str, Any]]
"""Runs ethers_interop.mjs on a request and returns its answer."""
