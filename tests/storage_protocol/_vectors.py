"""Shared helpers of the storage protocol tests: the SDK vectors and their file contents."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from zerog_storage import FileMerkleTree

VECTORS_COPY = Path(__file__).parent / "vectors" / "storage.json"
# The shared design documents sit beside the repository (../shared) on developer machines and CI.
SHARED_VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "storage.json"


@cache
def vectors() -> dict[str, Any]:
    """The SDK vectors (our committed copy of shared/vectors/storage.json)."""
    data: dict[str, Any] = json.loads(VECTORS_COPY.read_text())
    return data


def content(size: int) -> bytes:
    """The vectors' file contents: b[i] = i % 251."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]


@cache
def tree_of(size: int) -> FileMerkleTree:
    """Our tree of the vector content of `size` bytes (cached: the 4 MiB ones are reused)."""
    return FileMerkleTree.from_bytes(content(size))
