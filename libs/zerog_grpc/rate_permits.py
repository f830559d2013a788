"""Rate permits held by this replica: a hot subject's calls are admitted against permits quota
granted to the replica, with no quota round trip each.

Quota counts a permit in the subject's rate windows from the moment it grants it, so permits
held here, held by other replicas and used together never pass a limit. One grant at a time per
subject and method serves calls until it is used up or its hold ends; its unused permits then go
back to quota (they stop counting). Quota grants one permit at a time when a window has little
left, so a permit stranded here never refuses a call elsewhere that the limit should admit.
When a window is full, the call is refused with when it frees a slot: RateLimited, which a
service's error map turns into RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from zerog_grpc import request_ids
from zerog_grpc.clock import Monotonic
from zerog_grpc.errormap import Failure
from zerog_grpc.errors import error_info, quota_failure, retry_info

log = logging.getLogger("zerog_grpc.rate_permits")


class RateLimited(Exception):
    """A rate limit of the subject refused the call; nothing was spent on it."""

    def __init__(
        self, subject: str, method: str, retry_after: float, max_requests: int, window: int
    ) -> None:
        super().__init__(
            f"{subject}: at most {max_requests} calls of {method} per {window} s;"
            f" retry in {retry_after:.0f} s"
        )
        self.subject, self.method, self.retry_after = subject, method, retry_after
        self.max_requests, self.window_seconds = max_requests, window


def rate_limited(error: RateLimited) -> Failure:
    """RESOURCE_EXHAUSTED with QuotaFailure, RetryInfo and ErrorInfo(RATE_LIMITED)."""
    return Failure(
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        str(error),
        (
            quota_failure(f"{error.subject}:{error.method}", str(error)),
            retry_info(max(error.retry_after, 0.001)),
            error_info(
                "RATE_LIMITED",
                window_seconds=str(error.window_seconds),
                max_requests=str(error.max_requests),
            ),
        ),
    )


@dataclass(frozen=True)
class Grant:
    """Permits quota granted, usable for `hold_seconds` from when they were asked for."""

    grant_id: str
    permits: int
    hold_seconds: float


@dataclass(frozen=True)
class Refusal:
    """A full window: the rule and how long until it frees a slot."""

    retry_after: float
    max_requests: int
    window_seconds: int


class PermitSource(Protocol):
    """Quota's AcquireRatePermits and ReturnRatePermits, as a service's quota client calls
    them."""

    async def acquire_permits(
        self, request_id: str, subject: str, method: str, permits: int, holder: str
    ) -> Grant | Refusal: ...

    async def return_permits(self, grant_id: str, unused: int) -> None: ...


@dataclass
class _Held:
    grant_id: str
    left: int
    until: float


@dataclass
class RatePermits:
    """This replica's permits, by subject and method."""

    source: PermitSource
    batch: int
    """The permits asked for at a time (quota may grant fewer); 0 turns enforcement off."""
    clock: Monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _held: dict[tuple[str, str], _Held] = field(default_factory=dict, init=False)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict, init=False)
    _returns: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _sweep: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self, every: float = 1.0) -> None:
        """Give back grants whose hold ended in the background: a permit left over counts in
        the subject's day window until returned."""
        if self.batch > 0:
            self._sweep = asyncio.ensure_future(self._return_expired(every))

    async def admit(self, subject: str, method: str) -> None:
        """Use one permit for a call of `method` by `subject`, or raise RateLimited."""
        if self.batch <= 0:
            return
        key = (subject, method)
        if self._take(key):
            return
        async with self._locks.setdefault(key, asyncio.Lock()):
            if self._take(key):
                return
            asked = self.clock()
            answer = await self.source.acquire_permits(
                request_ids.derived("rate", self.holder, uuid.uuid4().hex),
                subject,
                method,
                self.batch,
                self.holder,
            )
            if isinstance(answer, Refusal):
                raise RateLimited(
                    subject, method, answer.retry_after, answer.max_requests, answer.window_seconds
                )
            # This call uses one permit now; the rest serve the next calls while they last.
            if answer.permits > 1:
                self._held[key] = _Held(
                    answer.grant_id, answer.permits - 1, asked + answer.hold_seconds
                )

    async def stop(self) -> None:
        """Give back every permit held (the rest stop counting when their windows pass)."""
        if self._sweep is not None:
            self._sweep.cancel()
            await asyncio.gather(self._sweep, return_exceptions=True)
        for key in list(self._held):
            self._give_back(self._held.pop(key))
        if self._returns:
            await asyncio.wait(self._returns, timeout=5.0)

    def _take(self, key: tuple[str, str]) -> bool:
        held = self._held.get(key)
        if held is None:
            return False
        if self.clock() >= held.until:
            del self._held[key]
            self._give_back(held)
            return False
        held.left -= 1
        if held.left == 0:
            del self._held[key]
        return True

    def _give_back(self, held: _Held) -> None:
        if held.left <= 0:
            return
        task = asyncio.ensure_future(self._return(held))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def _return(self, held: _Held) -> None:
        try:
            await self.source.return_permits(held.grant_id, held.left)
        except Exception as error:
            # Unreturned permits count until their windows pass: a later call may wait
            # longer, never more calls pass.
            log.warning(
                "rate permits return failed", extra={"grant": held.grant_id, "error": str(error)}
            )

    async def _return_expired(self, every: float) -> None:
        while True:
            await self.sleep(every)
            now = self.clock()
            for key, held in list(self._held.items()):
                if now >= held.until and self._held.get(key) is held:
                    del self._held[key]
                    self._give_back(held)
