"""Bearer keys of the OpenAI-compatible endpoint: "zk-<key id>-<secret>", kept as SHA-256.

The key id is in the secret so that people can tell keys apart in logs and lists; the lookup is
by the hash of the whole secret alone (256 random bits make it unguessable, and a hash needs
no constant-time compare)."""

from __future__ import annotations

import hashlib
import secrets

from services.inference.store import api_keys
from services.inference.store.api_keys import KeyRow
from zerog_db import Executor

PREFIX = "zk-"


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> tuple[str, str]:
    """A fresh (key id, secret)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}{key_id}-{secrets.token_urlsafe(32)}"


async def holder(db: Executor, secret: str) -> KeyRow | None:
    """The live key `secret` belongs to; None when it is unknown, malformed or revoked. Read
    from the table on every call, so a revocation holds on every replica at once."""
    if not secret.startswith(PREFIX) or len(secret) > 128:
        return None
    return await api_keys.live_by_digest(db, digest(secret))
