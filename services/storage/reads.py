"""GetObject's download: every segment proof-checked, then the SHA-256, before any byte leaves."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator
from pathlib import Path

from services.storage import files
from services.storage.errors import ChecksumMismatch
from services.storage.model import StoredObject
from zerog_storage import Downloader

# Objects up to this size are verified in memory (a few segments); larger ones go through a
# temp file so a read never holds a whole large object.
IN_MEMORY_BYTES = 4 * 1024 * 1024


class ReadFlow:
    """Downloads objects, and streams them once fully verified."""

    def __init__(self, downloader: Downloader, temp_dir: Path, chunk_bytes: int) -> None:
        self._downloader = downloader
        self._temp_dir = temp_dir
        self._chunk = chunk_bytes

    def _check(self, stored: StoredObject, digest: hashlib._Hash) -> None:
        if digest.digest() != stored.sha256:
            raise ChecksumMismatch(
                f"{stored.namespace}/{stored.name} v{stored.version}: bytes proving against "
                f"the root hash to {digest.hexdigest()}, recorded {stored.sha256.hex()}"
            )

    def _segments(self, stored: StoredObject) -> contextlib.aclosing[AsyncGenerator[bytes]]:
        # aclosing: a read given up half way drops its segment fetches at once, not at GC.
        return contextlib.aclosing(
            self._downloader.segments(stored.root, stored.size, stored.tx_seq)
        )

    async def chunks(self, stored: StoredObject) -> AsyncGenerator[bytes]:
        """The object's bytes; DataLost or ChecksumMismatch before the first byte if bad."""
        if stored.size <= IN_MEMORY_BYTES:
            async for block in self._in_memory(stored):
                yield block
            return
        with files.temp_file(self._temp_dir, "get-") as path:
            digest = hashlib.sha256()
            async with self._segments(stored) as segments:
                with path.open("wb") as out:
                    async for data in segments:
                        digest.update(data)
                        out.write(data)
            self._check(stored, digest)
            with path.open("rb") as f:
                while block := await asyncio.to_thread(f.read, self._chunk):
                    yield block

    async def _in_memory(self, stored: StoredObject) -> AsyncGenerator[bytes]:
        digest = hashlib.sha256()
        parts = []
        async with self._segments(stored) as segments:
            async for data in segments:
                digest.update(data)
                parts.append(data)
        self._check(stored, digest)
        view = memoryview(b"".join(parts))
        del parts
        for start in range(0, len(view), self._chunk):
            yield bytes(view[start : start + self._chunk])
