"""Budget leases held by this replica: a hot subject's calls are admitted here, against budget
quota set aside for the replica, with no quota round trip each.

One lease at a time per subject and price key serves calls while it covers a call's upper bound
(tokens and their cost); a lease that no longer covers one is retired and a new one acquired.
A retired or idle lease is returned once its calls have finished, saying what they spent, so
quota keeps holding only what the outbox has not reported yet. When quota cannot grant a call's
bound, a call waits while budget held elsewhere (other replicas' leases and calls) could still
cover it, and otherwise falls back to a reservation of its own (refused when nothing is left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from services.inference.config import Config
from services.inference.quota_client import Leased, QuotaClient, Reservation
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import Monotonic, request_ids

log = logging.getLogger("services.inference.leases")
Sleep = Callable[[float], Awaitable[None]]
# How often a call waiting for budget held elsewhere asks quota again.
POLL_SECONDS = 0.05


@dataclass
class _Held:
    """One lease as this replica sees it."""

    key: tuple[str, str]
    lease_id: str
    price_micro_usd: int
    price_per_amount: int
    tokens_left: int
    cost_left: int
    acquired: float
    last_used: float
    in_flight: int = 0
    spent_tokens: int = 0
    spent_cost: int = 0
    retired: bool = False

    def cost(self, tokens: int) -> int:
        return -(-tokens * self.price_micro_usd // max(self.price_per_amount, 1))


@dataclass
class Leases:
    """This replica's leases, by subject and price key."""

    quota: QuotaClient
    config: Config
    """lease_tokens (0 turns leases off), lease_ttl_seconds, lease_idle_seconds (a lease no
    call used for this long is returned) and lease_wait_seconds (the longest a call waits for
    budget held elsewhere)."""
    clock: Monotonic
    sleep: Sleep = asyncio.sleep
    holder: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _current: dict[tuple[str, str], _Held] = field(default_factory=dict, init=False)
    _by_id: dict[str, _Held] = field(default_factory=dict, init=False)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict, init=False)
    _returns: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _idle: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def enabled(self) -> bool:
        return self.config.lease_tokens > 0

    def start(self) -> None:
        """Return idle leases in the background."""
        if self.enabled:
            self._idle = asyncio.ensure_future(self._return_idle())

    async def stop(self) -> None:
        """Return every lease whose calls have finished (the rest expire at quota)."""
        if self._idle is not None:
            self._idle.cancel()
            await asyncio.gather(self._idle, return_exceptions=True)
        for held in list(self._current.values()):
            self._retire(held)
        if self._returns:
            await asyncio.wait(self._returns, timeout=5.0)

    async def return_idle(self) -> None:
        """Give back now every lease with no call in flight (they would be at the next idle
        check), and wait for quota's answers."""
        for held in list(self._current.values()):
            if held.in_flight == 0:
                self._retire(held)
        if self._returns:
            await asyncio.wait(self._returns, timeout=5.0)

    async def take(
        self, subject: str, price_key: str, tokens: int, lasting: float | None
    ) -> Reservation | None:
        """`tokens` of the subject's budget served from a lease, or None: the caller reserves
        on its own."""
        key = (subject, price_key)
        waited_until = self.clock() + min(self.config.lease_wait_seconds, lasting or float("inf"))
        while True:
            held = self._current.get(key)
            if held is not None and self._covers(held, tokens, lasting):
                return self._admit(held, tokens)
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                held = self._current.get(key)
                if held is not None and self._covers(held, tokens, lasting):
                    return self._admit(held, tokens)
                if held is not None:
                    self._retire(held)
                answer = await self.quota.acquire_lease(
                    request_ids.derived("lease", self.holder, uuid.uuid4().hex),
                    subject,
                    price_key,
                    max(self.config.lease_tokens, tokens),
                    tokens,
                    self.holder,
                    timedelta(seconds=self.config.lease_ttl_seconds),
                )
                if answer.HasField("lease"):
                    self._hold(key, answer)
                    continue
            # Too little left to share: this call reserves on its own while it still fits.
            if answer.available_tokens >= tokens:
                return None
            # Budget that others hold (leases, calls in flight) may come back and cover this
            # call: wait for it rather than refuse while the budget is undecided.
            could = answer.available_tokens + answer.held_tokens >= tokens
            if not could or answer.held_tokens == 0 or self.clock() >= waited_until:
                return None
            await self.sleep(POLL_SECONDS)

    def finish(self, reservation: Reservation, used: int) -> None:
        """A call served from a lease is over, having used `used` tokens (0: no answer)."""
        held = self._by_id.get(reservation.reservation_id)
        if held is None:
            return
        cost = held.cost(used)
        held.in_flight -= 1
        held.tokens_left += reservation.tokens - used
        held.cost_left += reservation.cost_micro_usd - cost
        held.spent_tokens += used
        held.spent_cost += cost
        if held.retired and held.in_flight == 0:
            self._give_back(held)

    def _covers(self, held: _Held, tokens: int, lasting: float | None) -> bool:
        now = self.clock()
        ttl = self.config.lease_ttl_seconds
        # New calls only in the lease's first half, and only calls that end well before it
        # does: a spend reported after the deadline is counted, but no longer held for.
        fresh = now < held.acquired + ttl / 2 and now + (lasting or 0) < held.acquired + ttl * 0.9
        return fresh and held.tokens_left >= tokens and held.cost_left >= held.cost(tokens)

    def _admit(self, held: _Held, tokens: int) -> Reservation:
        cost = held.cost(tokens)
        held.tokens_left -= tokens
        held.cost_left -= cost
        held.in_flight += 1
        held.last_used = self.clock()
        price = (held.price_micro_usd, held.price_per_amount)
        return Leased(held.lease_id, tokens, held.key[1], cost, *price)

    def _hold(self, key: tuple[str, str], answer: qpb.AcquireLeaseResponse) -> None:
        lease = answer.lease
        now = self.clock()
        held = _Held(
            key,
            lease.lease_id,
            lease.price_micro_usd,
            lease.price_per_amount,
            lease.tokens,
            lease.cost_micro_usd,
            now,
            now,
        )
        self._current[key] = held
        self._by_id[held.lease_id] = held

    def _retire(self, held: _Held) -> None:
        """No new calls on `held`; returned once its calls are over."""
        if self._current.get(held.key) is held:
            del self._current[held.key]
        held.retired = True
        if held.in_flight == 0:
            self._give_back(held)

    def _give_back(self, held: _Held) -> None:
        self._by_id.pop(held.lease_id, None)
        task = asyncio.ensure_future(self._return(held))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def _return(self, held: _Held) -> None:
        try:
            await self.quota.return_lease(held.lease_id, held.spent_tokens, held.spent_cost)
        except Exception as error:
            # Quota gives it back when it expires: a late return costs budget time, not money.
            log.warning("lease return failed", extra={"lease": held.lease_id, "error": str(error)})

    async def _return_idle(self) -> None:
        while True:
            await self.sleep(max(self.config.lease_idle_seconds / 2, POLL_SECONDS))
            now = self.clock()
            for held in list(self._current.values()):
                stale = now >= held.acquired + self.config.lease_ttl_seconds / 2
                idle = now - held.last_used >= self.config.lease_idle_seconds
                if held.in_flight == 0 and (idle or stale):
                    with contextlib.suppress(Exception):
                        self._retire(held)
