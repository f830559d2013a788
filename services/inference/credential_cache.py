"""Request credentials held per provider, so a completion calls the provider without asking the
broker first. The broker stays the only key holder: what is held here is the short-lived
session header it issued. A refresher re-asks the broker every few seconds while a provider is
in use (a revoke-all reaches this replica that fast), and a credential the provider refuses is
dropped and asked for once more."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import aiohttp

from services.inference.errors import ProviderError
from services.inference.provider_http import Completion, Credentials, ProviderHttp, ProviderStream
from zerog_grpc import Clock, Monotonic, monotonic, utc_now

log = logging.getLogger("services.inference.credential_cache")
T = TypeVar("T")

REFRESH_SECONDS = 2.0
"""How often a provider in use is re-asked for: a revoke-all shows within this (plus the ask)."""
IDLE_SECONDS = 60.0
"""A provider nobody called for this long is forgotten (and no longer re-asked for)."""
EXPIRY_MARGIN = timedelta(minutes=5)
"""A credential is not used this close to its expiry (the broker renews it an hour before)."""
FETCH_SECONDS = 10.0


@dataclass(frozen=True)
class Issued:
    """Credentials as the broker issued them, and when they expire (None: never)."""

    credentials: Credentials
    expires_at: datetime | None


Fetch = Callable[[str, float], Awaitable[Issued]]
"""Asks the broker for `provider`'s credentials, taking at most the given seconds."""


@dataclass
class _Slot:
    provider: str
    issued: Issued | None = None
    used: float = 0.0
    """Monotonic time of the last completion that took the credential."""
    epoch: int = 0
    """Raised whenever the credential is dropped: an ask begun before a drop may bring back
    what was dropped, so it does not fill the slot and nobody waits on it afterwards."""
    asking: tuple[int, asyncio.Task[Issued]] | None = None
    refresher: asyncio.Task[None] | None = None


@dataclass
class CredentialCache:
    """One credential per provider, asked for once however many completions want it."""

    fetch: Fetch
    refresh_seconds: float = REFRESH_SECONDS
    idle_seconds: float = IDLE_SECONDS
    margin: timedelta = EXPIRY_MARGIN
    fetch_seconds: float = FETCH_SECONDS
    clock: Monotonic = monotonic
    now: Clock = utc_now
    _slots: dict[str, _Slot] = field(default_factory=dict)

    async def get(self, provider: str, limit_seconds: float) -> Credentials:
        """The held credential, else one asked for now (a single ask however many wait)."""
        slot = self._slots.get(provider.lower())
        if slot is None:
            slot = self._slots[provider.lower()] = _Slot(provider)
        slot.used = self.clock()
        if slot.issued is not None and self._usable(slot.issued):
            return slot.issued.credentials
        return (await _within(self._ask(slot), limit_seconds)).credentials

    def held(self, provider: str) -> Credentials | None:
        """What a completion would take for `provider` now without asking, if anything."""
        slot = self._slots.get(provider.lower())
        if slot is None or slot.issued is None or not self._usable(slot.issued):
            return None
        return slot.issued.credentials

    def drop(self, refused: Credentials) -> None:
        """The provider refused `refused`: stop using it (unless already replaced)."""
        slot = self._slots.get(refused.provider.lower())
        if slot is None or slot.issued is None:
            return
        if slot.issued.credentials.authorization == refused.authorization:
            slot.issued = None
            slot.epoch += 1

    async def renewed(self, refused: Credentials, limit_seconds: float) -> Credentials | None:
        """After the provider refused `refused`: a different credential for the same service,
        or None when the broker has nothing else to give."""
        self.drop(refused)
        fresh = await self.get(refused.provider, limit_seconds)
        same_service = (fresh.endpoint, fresh.model) == (refused.endpoint, refused.model)
        if fresh.authorization == refused.authorization or not same_service:
            return None
        return fresh

    async def stop(self) -> None:
        """End the refreshers and asks (the server is stopping)."""
        tasks: list[asyncio.Task[Any]] = []
        for slot in self._slots.values():
            if slot.refresher is not None:
                tasks.append(slot.refresher)
            if slot.asking is not None:
                tasks.append(slot.asking[1])
        self._slots.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _usable(self, issued: Issued) -> bool:
        return issued.expires_at is None or self.now() < issued.expires_at - self.margin

    def _ask(self, slot: _Slot) -> asyncio.Future[Issued]:
        """The ask under way for the slot's current epoch, else a new one."""
        if slot.asking is None or slot.asking[0] != slot.epoch:
            task = asyncio.ensure_future(self._fetch(slot, slot.epoch))
            # Every waiter may have given up (own deadline): the outcome is then nobody's news.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            slot.asking = (slot.epoch, task)
        return asyncio.shield(slot.asking[1])

    async def _fetch(self, slot: _Slot, epoch: int) -> Issued:
        try:
            issued = await self.fetch(slot.provider, self.fetch_seconds)
        finally:
            if slot.asking is not None and slot.asking[0] == epoch:
                slot.asking = None
        if slot.epoch == epoch and self._slots.get(slot.provider.lower()) is slot:
            slot.issued = issued
            if slot.refresher is None:
                slot.refresher = _detached(self._refresh(slot))
        return issued

    async def _refresh(self, slot: _Slot) -> None:
        """Re-ask while the provider is in use, so a new credential (after a revoke-all, or
        renewed ahead of expiry) is taken within `refresh_seconds`; then forget it."""
        while self.clock() - slot.used <= self.idle_seconds:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self._ask(slot)
            except ProviderError as error:
                if not error.retryable:
                    # The broker will no longer issue for it: calls fail as they did uncached.
                    slot.issued = None
                    slot.epoch += 1
                # Else (the broker is unreachable) the held credential serves until it expires.
                log.warning(
                    "credential refresh failed",
                    extra={"provider": slot.provider, "outcome": error.outcome},
                )
        if self._slots.get(slot.provider.lower()) is slot:
            del self._slots[slot.provider.lower()]


def _detached(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A background task outside the caller's context, so its broker calls are not traced as
    part of the completion that happened to start it."""
    return asyncio.get_running_loop().create_task(work, context=contextvars.Context())


async def _within(asked: Awaitable[Issued], seconds: float) -> Issued:
    try:
        return await asyncio.wait_for(asked, seconds)
    except TimeoutError:
        raise ProviderError("timeout", "broker timed out", retryable=True) from None


def is_refusal(error: ProviderError) -> bool:
    """The provider refused the credential itself (0G providers answer a revoked or expired
    session token with 400 "validate session: ...")."""
    return error.status in (401, 403) or (
        error.status == 400 and str(error).startswith("validate session")
    )


class RenewingHttp(ProviderHttp):
    """ProviderHttp whose calls, when the provider refuses the credential, drop it from the
    cache and go once more with a fresh one."""

    def __init__(
        self, client: aiohttp.ClientSession, cache: CredentialCache, clock: Monotonic = monotonic
    ) -> None:
        super().__init__(client)
        self._cache = cache
        self._clock = clock

    async def complete(self, creds: Credentials, body: bytes, limit_seconds: float) -> Completion:
        return await self._again(super().complete, creds, body, limit_seconds)

    async def open_stream(
        self, creds: Credentials, body: bytes, limit_seconds: float
    ) -> ProviderStream:
        return await self._again(super().open_stream, creds, body, limit_seconds)

    async def _again(
        self,
        call: Callable[[Credentials, bytes, float], Awaitable[T]],
        creds: Credentials,
        body: bytes,
        limit_seconds: float,
    ) -> T:
        started = self._clock()
        try:
            return await call(creds, body, limit_seconds)
        except ProviderError as error:
            if not is_refusal(error):
                raise
            fresh = await self._cache.renewed(creds, limit_seconds)
            left = limit_seconds - (self._clock() - started)
            if fresh is None or left <= 0:
                raise
            # The body names the same model, so it is sent again byte for byte.
            return await call(fresh, body, left)
