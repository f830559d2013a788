"""GetObject's download: every segment proof-checked, then the SHA-256, before any byte leaves.

A sealed object (encryption 'zge1') is checked as the bytes on 0G first (their SHA-256), then
opened with its content key. Every sealed record is authenticated, and the key is derived from
the plaintext's SHA-256, so bytes that open are the bytes that were put.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncGenerator
from pathlib import Path

import asyncpg

from services.storage import files
from services.storage.errors import ChecksumMismatch
from services.storage.keys import NamespaceKeys
from services.storage.model import StoredObject
from zerog_storage import Downloader
from zerog_storage.at_rest import Opener

# Objects up to this size are verified in memory (a few segments); larger ones go through a
# temp file so a read never holds a whole large object.
IN_MEMORY_BYTES = 4 * 1024 * 1024


class ReadFlow:
    """Downloads objects, and streams them once fully verified."""

    def __init__(
        self,
        downloader: Downloader,
        temp_dir: Path,
        chunk_bytes: int,
        pool: asyncpg.Pool,
        keys: NamespaceKeys,
    ) -> None:
        self._downloader = downloader
        self._temp_dir = temp_dir
        self._chunk = chunk_bytes
        self._pool = pool
        self._keys = keys

    def _check(self, stored: StoredObject, digest: hashlib._Hash) -> None:
        if digest.digest() != stored.stored_sha256:
            raise ChecksumMismatch(
                f"{stored.namespace}/{stored.name} v{stored.version}: bytes proving against "
                f"the root hash to {digest.hexdigest()}, recorded {stored.stored_sha256.hex()}"
            )

    def _segments(self, stored: StoredObject) -> contextlib.aclosing[AsyncGenerator[bytes]]:
        # aclosing: a read given up half way drops its segment fetches at once, not at GC.
        return contextlib.aclosing(
            self._downloader.segments(stored.root, stored.stored_size, stored.tx_seq)
        )

    async def _opener(self, stored: StoredObject) -> Opener | None:
        """How to open the object's bytes (None: stored as they are); KeyDeleted if no longer."""
        if stored.encryption == "plain":
            return None
        key = await self._keys.content_key(self._pool, stored.namespace, stored.sha256)
        return Opener(key)

    async def chunks(self, stored: StoredObject) -> AsyncGenerator[bytes]:
        """The object's bytes; DataLost, ChecksumMismatch or KeyDeleted before the first byte."""
        opener = await self._opener(stored)
        if stored.stored_size <= IN_MEMORY_BYTES:
            async for block in self._in_memory(stored, opener):
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
                    plain = block if opener is None else opener.feed(block)
                    if plain:
                        yield plain
            if opener is not None:
                yield opener.finish()

    async def _in_memory(
        self, stored: StoredObject, opener: Opener | None
    ) -> AsyncGenerator[bytes]:
        digest = hashlib.sha256()
        parts = []
        async with self._segments(stored) as segments:
            async for data in segments:
                digest.update(data)
                parts.append(data)
        self._check(stored, digest)
        whole = b"".join(parts)
        del parts
        if opener is not None:
            whole = opener.feed(whole) + opener.finish()
        view = memoryview(whole)
        for start in range(0, len(view), self._chunk):
            yield bytes(view[start : start + self._chunk])
