"""Reserve / Commit / Release against the quota service, as the inference service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration

from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import TokenMinter

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

OPERATION = "inference.chat"


@dataclass(frozen=True)
class Reservation:
    """A reservation of compute tokens for one call."""

    reservation_id: str
    tokens: int
    price_key: str
    cost_micro_usd: int


class QuotaClient:
    """Two-phase spending of a subject's compute-token budget."""

    def __init__(
        self, stub: QuotaServiceAsyncStub, minter: TokenMinter, ttl: timedelta, timeout: float
    ) -> None:
        self._stub = stub
        self._minter = minter
        self._ttl = ttl
        self._timeout = timeout

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return self._minter.metadata("quota")

    async def reserve(
        self, request_id: str, subject: str, tokens: int, price_key: str, operation: str
    ) -> Reservation:
        """Set `tokens` aside; grpc RESOURCE_EXHAUSTED when the budget cannot cover them."""
        ttl = Duration()
        ttl.FromTimedelta(self._ttl)
        response = await self._stub.Reserve(
            qpb.ReserveRequest(
                request_id=request_id,
                subject=subject,
                items=[_item(tokens, price_key)],
                ttl=ttl,
                operation=operation,
            ),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        r = response.reservation
        return Reservation(r.reservation_id, tokens, price_key, r.cost_micro_usd)

    async def commit(self, reservation: Reservation, tokens: int, metadata: dict[str, str]) -> int:
        """Record `tokens` used (at most reserved) and return the committed micro-dollars."""
        response = await self._stub.Commit(
            qpb.CommitRequest(
                reservation_id=reservation.reservation_id,
                items=[_item(tokens, reservation.price_key)],
                metadata=metadata,
            ),
            metadata=self._metadata(),
            timeout=self._timeout,
        )
        return response.cost_record.cost_micro_usd

    async def release(self, reservation: Reservation) -> None:
        """Give the reservation back."""
        await self._stub.Release(
            qpb.ReleaseRequest(reservation_id=reservation.reservation_id),
            metadata=self._metadata(),
            timeout=self._timeout,
        )


def _item(tokens: int, price_key: str) -> qpb.UsageItem:
    return qpb.UsageItem(unit=qpb.UNIT_COMPUTE_TOKENS, amount=tokens, price_key=price_key)
