"""GetObject's download: every segment proof-checked, then the SHA-256, before any byte leaves."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator
from pathlib import Path

from services.storage import files
from services.storage.errors import ChecksumMismatch
from services.storage.model import StoredObject
from zerog_storage import Downloader


class ReadFlow:
    """Downloads objects into temp files and streams them once fully verified."""

    def __init__(self, downloader: Downloader, temp_dir: Path, chunk_bytes: int) -> None:
        self._downloader = downloader
        self._temp_dir = temp_dir
        self._chunk = chunk_bytes

    async def chunks(self, stored: StoredObject) -> AsyncGenerator[bytes]:
        """The object's bytes; DataLost or ChecksumMismatch before the first byte if bad."""
        with files.temp_file(self._temp_dir, "get-") as path:
            digest = hashlib.sha256()
            with path.open("wb") as out:
                async for data in self._downloader.segments(
                    stored.root, stored.size, stored.tx_seq
                ):
                    digest.update(data)
                    out.write(data)
            if digest.digest() != stored.sha256:
                raise ChecksumMismatch(
                    f"{stored.namespace}/{stored.name} v{stored.version}: bytes proving against "
                    f"the root hash to {digest.hexdigest()}, recorded {stored.sha256.hex()}"
                )
            with path.open("rb") as f:
                while block := await asyncio.to_thread(f.read, self._chunk):
                    yield block
