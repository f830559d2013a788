"""Temporary files for object bytes: one private directory, every file removed on any exit."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from services.storage.validate import invalid
from zerog_storage.at_rest import seal

READ_CHUNK = 256 * 1024


def reset_dir(path: Path) -> None:
    """Create the temp directory, removing what a killed process left behind."""
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def temp_file(directory: Path, prefix: str) -> Iterator[Path]:
    """A new empty file in `directory`, deleted when the block exits however it exits."""
    fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


async def receive(chunks: AsyncIterator[bytes], path: Path, size: int, sha256: bytes) -> None:
    """Write exactly `size` bytes with SHA-256 `sha256` to `path`, else InvalidRequest."""
    digest = hashlib.sha256()
    received = 0
    with path.open("wb") as out:
        async for chunk in chunks:
            received += len(chunk)
            if received > size:
                raise invalid(
                    "PutObjectRequest", "chunk", f"more bytes than the header's size {size}"
                )
            digest.update(chunk)
            out.write(chunk)
    if received != size:
        raise invalid(
            "PutObjectRequest", "chunk", f"received {received} bytes, the header says {size}"
        )
    if digest.digest() != sha256:
        raise invalid(
            "PutObjectHeader", "sha256", f"the bytes received hash to {digest.hexdigest()}"
        )


def sha256_of(path: Path) -> bytes:
    """SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(READ_CHUNK):
            digest.update(block)
    return digest.digest()


@dataclass(frozen=True)
class Sealed:
    """A sealed file's size and SHA-256 (what 0G Storage holds and verification checks)."""

    size: int
    sha256: bytes


def seal_file(source: Path, target: Path, key: bytes, size: int) -> Sealed:
    """Seal the `size` bytes of `source` into `target` under `key` (blocking: run in a thread)."""
    digest = hashlib.sha256()
    written = 0
    with source.open("rb") as src, target.open("wb") as out:
        blocks = iter(lambda: src.read(READ_CHUNK), b"")
        for record in seal(key, blocks, size):
            digest.update(record)
            out.write(record)
            written += len(record)
    return Sealed(written, digest.digest())
