"""Namespace data keys: created on a namespace's first put, unwrapped with the master key."""

from __future__ import annotations

from services.storage.errors import KeyDeleted
from services.storage.store import keys
from zerog_db import Executor
from zerog_storage.at_rest import content_key, new_key, unwrap_key, wrap_key


class NamespaceKeys:
    """Wraps and unwraps namespace keys; the master key never leaves this object."""

    def __init__(self, master: bytes) -> None:
        self._master = master

    def __repr__(self) -> str:
        return "NamespaceKeys(master=<hidden>)"

    async def content_key_for_put(
        self, db: Executor, namespace: str, plaintext_sha256: bytes
    ) -> bytes:
        """The key a new put's plaintext is sealed under (the namespace's key is made now if
        it has none)."""
        return content_key(await self._namespace_key(db, namespace), plaintext_sha256)

    async def _namespace_key(self, db: Executor, namespace: str) -> bytes:
        wrapped = await keys.get(db, namespace)
        if wrapped is None:
            await keys.add_if_absent(db, namespace, wrap_key(self._master, new_key(), namespace))
            wrapped = await keys.get(db, namespace)
            assert wrapped is not None  # just added, by us or a concurrent put
        return unwrap_key(self._master, wrapped, namespace)

    async def content_key(self, db: Executor, namespace: str, plaintext_sha256: bytes) -> bytes:
        """The key one stored plaintext was sealed under; KeyDeleted if the namespace's is gone."""
        wrapped = await keys.get(db, namespace)
        if wrapped is None:
            raise KeyDeleted(namespace)
        return content_key(unwrap_key(self._master, wrapped, namespace), plaintext_sha256)
