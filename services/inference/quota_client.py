"""Reserve / CommitBatch / Release and budget leases against the quota service, as the
inference service."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from google.protobuf.duration_pb2 import Duration

from services.inference.store.outbox import Pending
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
    price_micro_usd: int = 0
    price_per_amount: int = 1

    def cost(self, tokens: int) -> int:
        """What committing `tokens` costs: quota's price arithmetic (rounded up) at the price
        reserved, so the answer states its cost without waiting for the commit."""
        return -(-tokens * self.price_micro_usd // max(self.price_per_amount, 1))

    @property
    def leased(self) -> bool:
        """Served from a budget lease: reported to it, never released at quota."""
        return False


class Leased(Reservation):
    """A call's tokens served from a budget lease (reservation_id is the lease's)."""

    @property
    def leased(self) -> bool:
        return True


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
        price = r.items[0]
        return Reservation(
            r.reservation_id,
            tokens,
            price_key,
            r.cost_micro_usd,
            price.price_micro_usd,
            price.price_per_amount,
        )

    async def commit_batch(self, rows: Sequence[Pending]) -> list[qpb.BatchError | None]:
        """Commit each row's tokens on its reservation (tokens above the reservation or after
        its deadline are billed all the same: quota flags them); per row, None when committed,
        else quota's refusal."""
        answer = await self.stub.CommitBatch(
            qpb.CommitBatchRequest(
                commits=[
                    qpb.CommitRequest(
                        reservation_id=s.reservation_id,
                        items=[_item(s.tokens, s.price_key)],
                        metadata=s.metadata(),
                    )
                    for s in (row.settlement for row in rows)
                ]
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )
        return [r.error if r.HasField("error") else None for r in answer.results]

    async def acquire_lease(
        self,
        request_id: str,
        subject: str,
        price_key: str,
        tokens: int,
        min_tokens: int,
        holder: str,
        ttl: timedelta,
    ) -> qpb.AcquireLeaseResponse:
        """Up to `tokens` of the subject's budget for this replica (none below min_tokens)."""
        hold = Duration()
        hold.FromTimedelta(ttl)
        answer: qpb.AcquireLeaseResponse = await self.stub.AcquireLease(
            qpb.AcquireLeaseRequest(
                request_id=request_id,
                subject=subject,
                price_key=price_key,
                tokens=tokens,
                min_tokens=min_tokens,
                holder=holder,
                ttl=hold,
                operation=OPERATION,
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )
        return answer

    async def return_lease(self, lease_id: str, spent_tokens: int, spent_cost: int) -> None:
        """Give a lease back, saying what was spent from it in all."""
        await self.stub.ReturnLease(
            qpb.ReturnLeaseRequest(
                lease_id=lease_id, spent_tokens=spent_tokens, spent_cost_micro_usd=spent_cost
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )

    async def report_spends(self, rows: Sequence[Pending]) -> list[qpb.BatchError | None]:
        """Report each row's tokens as a spend of its lease (once by usage id); per row, None
        when counted, else quota's refusal."""
        answer = await self.stub.ReportLeaseSpends(
            qpb.ReportLeaseSpendsRequest(
                spends=[
                    qpb.LeaseSpend(
                        lease_id=s.reservation_id,
                        spend_id=s.usage_id,
                        tokens=s.tokens,
                        metadata=s.metadata(),
                    )
                    for s in (row.settlement for row in rows)
                ]
            ),
            metadata=self._metadata(),
            timeout=self.timeout,
        )
        return [r.error if r.HasField("error") else None for r in answer.results]

    async def release(self, reservation: Reservation) -> None:
        """Give the reservation back."""
        await self.stub.Release(
            qpb.ReleaseRequest(reservation_id=reservation.reservation_id),
            metadata=self._metadata(),
            timeout=self.timeout,
        )


def _item(tokens: int, price_key: str) -> qpb.UsageItem:
    return qpb.UsageItem(unit=qpb.UNIT_COMPUTE_TOKENS, amount=tokens, price_key=price_key)
