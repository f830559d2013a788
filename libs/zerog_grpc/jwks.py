"""The public keys callers' tokens are checked with: a JWKS from a file or a URL, kept fresh.

Each entry names, besides the usual members, the one `service` whose tokens it signs, so holding
a caller's private key never lets anyone speak as another service (or as `admin`):

    {"keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...", "kid": "...",
               "alg": "ES256", "use": "sig", "service": "inference"}]}

Rotation never refuses a call: publish the new key, let every verifier pick it up (at most
`refresh_seconds`; an unknown kid also makes a verifier look again, at most once per
`unknown_kid_seconds`), sign with it, and remove the old key once its tokens have expired.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import jwt

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
FETCH_TIMEOUT_SECONDS = 5.0


class InvalidKeySet(ValueError):
    """A JWKS document that cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class PublishedKey:
    """One public key of the set and the service it speaks for."""

    kid: str
    service: str
    algorithm: str
    # The entry as published: two keys are the same key when their entries are.
    entry: str
    key: Any = field(compare=False, repr=False)


def parse_jwks(raw: bytes | str) -> dict[str, PublishedKey]:
    """kid -> key of a JWKS document; InvalidKeySet names the first problem."""
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise InvalidKeySet(f"not JSON: {error}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise InvalidKeySet('expected {"keys": [...]}')
    keys: dict[str, PublishedKey] = {}
    for index, entry in enumerate(entries):
        where = f"keys[{index}]"
        if not isinstance(entry, dict):
            raise InvalidKeySet(f"{where}: not an object")
        kid, service, algorithm = entry.get("kid"), entry.get("service"), entry.get("alg")
        if not isinstance(kid, str) or not kid:
            raise InvalidKeySet(f"{where}: kid is required")
        if not isinstance(service, str) or not service:
            raise InvalidKeySet(f"{where} ({kid}): service is required")
        if algorithm not in ALGORITHMS:
            raise InvalidKeySet(f"{where} ({kid}): alg must be one of {', '.join(ALGORITHMS)}")
        if entry.get("use", "sig") != "sig":
            raise InvalidKeySet(f"{where} ({kid}): use must be sig")
        if kid in keys:
            raise InvalidKeySet(f"{where}: kid {kid} appears twice")
        try:
            public = jwt.PyJWK(entry, algorithm=algorithm).key
        except jwt.PyJWTError as error:
            raise InvalidKeySet(f"{where} ({kid}): {error}") from None
        if hasattr(public, "private_bytes"):
            raise InvalidKeySet(f"{where} ({kid}): a private key must never be published")
        canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        keys[kid] = PublishedKey(kid, service, str(algorithm), canonical, public)
    return keys


class KeySource(Protocol):
    """Where the JWKS document is read from."""

    async def fetch(self) -> bytes: ...


@dataclass(frozen=True)
class FileSource:
    """A file, e.g. a mounted Secret or ConfigMap (Kubernetes updates it in place)."""

    path: Path

    async def fetch(self) -> bytes:
        return await asyncio.to_thread(self.path.read_bytes)


@dataclass(frozen=True)
class UrlSource:
    """An HTTP(S) URL serving the document."""

    url: str

    async def fetch(self) -> bytes:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as client:
            response = await client.get(self.url)
            response.raise_for_status()
            return response.content


class KeySet:
    """The current keys of one source, read again every `refresh_seconds` (in the background:
    calls go on with the keys at hand) and, for a kid it does not know, at once but at most
    once every `unknown_kid_seconds`, so made-up kids cannot turn into a flood of fetches.

    A failed or invalid read keeps the keys already known: a JWKS outage refuses no call.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        refresh_seconds: float = 60.0,
        unknown_kid_seconds: float = 5.0,
        initial: Mapping[str, PublishedKey] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.unknown_kid_seconds = unknown_kid_seconds
        self._clock = clock
        self._keys: dict[str, PublishedKey] = dict(initial or {})
        self._read_at = clock() if initial is not None else -math.inf
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None
        self.reads = 0

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def get(self, kid: str) -> PublishedKey | None:
        """The key `kid`, or None if the source does not publish it (after one fresh read,
        unless another read began less than `unknown_kid_seconds` ago)."""
        if self._clock() - self._read_at >= self.refresh_seconds:
            if not self._keys:
                await self.refresh()  # nothing to go on yet: read now
            elif self._background is None:
                self._background = asyncio.create_task(self._refresh_in_background())
        key = self._keys.get(kid)
        if key is None and self._clock() - self._read_at >= self.unknown_kid_seconds:
            await self.refresh()
            key = self._keys.get(kid)
        return key

    async def refresh(self) -> None:
        """Read the source once; callers that wait meanwhile share the read that follows."""
        asked = self._clock()
        async with self._lock:
            if self._read_at >= asked:
                return  # a read began after we asked: it saw what we would see
            self._read_at = self._clock()
            self.reads += 1
            try:
                keys = parse_jwks(await self.source.fetch())
            except (OSError, httpx.HTTPError, InvalidKeySet) as error:
                log.warning(
                    "cannot read the JWKS; keeping the keys known",
                    extra={"source": repr(self.source), "error": str(error)},
                )
                return
            if keys != self._keys:
                log.info("JWKS changed", extra={"kids": sorted(keys)})
            self._keys = keys

    async def _refresh_in_background(self) -> None:
        try:
            await self.refresh()
        finally:
            self._background = None
