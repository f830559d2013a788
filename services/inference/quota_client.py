"""Reserve / Commit / Release against the quota service, as the inference service."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration

from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import TokenMinter

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

OPERATION = "inference.chat"
# A reservation outlives its call's deadline by this much (the commit follows the last token),
# up to quota's longest hold.
_TTL_SLACK = timedelta(seconds=30)
_MAX_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Reservation:
    """A reservation of compute tokens for one call."""

    reservation_id: str
    tokens: int
    price_key: str
    cost_micro_usd: int


@dataclass(frozen=True)
class QuotaClient:
    """Two-phase spending of a subject's compute-token budget."""

    stub: QuotaServiceAsyncStub
    minter: TokenMinter
    ttl: timedelta
    timeout: float

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return self.minter.metadata("quota")

    def hold(self, lasting: float | None) -> timedelta:
        """How long to hold a call's tokens: the configured TTL, or longer when the call's own
        deadline (`lasting` seconds away; None without one) is further, at most quota's hour.
        A commit after it is billed all the same (flagged late): the TTL only keeps the budget
        held meanwhile."""
        if lasting is None:
            return self.ttl
        needed = timedelta(seconds=math.ceil(lasting)) + _TTL_SLACK
        return min(max(self.ttl, needed), max(self.ttl, _MAX_TTL))

    async def reserve(
        self,
        request_id: str,
        subject: str,
        tokens: int,
        price_key: str,
        operation: str,
        lasting: float | None = None,
    ) -> Reservation:
        """Set `tokens` aside for a call that may last `lasting` seconds (None: no deadline);
        grpc RESOURCE_EXHAUSTED when the budget cannot cover them."""
        ttl = Duration()
        ttl.FromTimedelta(self.hold(lasting))
        response = await self.stub.Reserve(
            qpb.ReserveRequest(
                request_id=request_id,
                subject=subject,
                items=[_item(tokens, price_key)],
                ttl=ttl,
                operation=operation,
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )
        r = response.reservation
        return Reservation(r.reservation_id, tokens, price_key, r.cost_micro_usd)

    async def commit(self, reservation: Reservation, tokens: int, metadata: dict[str, str]) -> int:
        """Record `tokens` used and return the committed micro-dollars; tokens above the
        reservation or after its deadline are billed all the same (quota flags them)."""
        response = await self.stub.Commit(
            qpb.CommitRequest(
                reservation_id=reservation.reservation_id,
                items=[_item(tokens, reservation.price_key)],
                metadata=metadata,
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )
        return response.cost_record.cost_micro_usd

    async def release(self, reservation: Reservation) -> None:
        """Give the reservation back."""
        await self.stub.Release(
            qpb.ReleaseRequest(reservation_id=reservation.reservation_id),
            metadata=self._metadata(),
            timeout=self.timeout,
        )


def _item(tokens: int, price_key: str) -> qpb.UsageItem:
    return qpb.UsageItem(unit=qpb.UNIT_COMPUTE_TOKENS, amount=tokens, price_key=price_key)
