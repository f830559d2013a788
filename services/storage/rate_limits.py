"""Rate limits of storage's callers, held locally: quota's AcquireRatePermits and
ReturnRatePermits as zerog_grpc.rate_permits asks for them (the same adapter as inference's:
services do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import TokenMinter
from zerog_grpc.rate_permits import Grant, Refusal

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub


@dataclass(frozen=True)
class QuotaPermits:
    """Rate permits from quota, asked for as storage."""

    stub: QuotaServiceAsyncStub
    minter: TokenMinter
    hold: timedelta
    timeout: float

    async def acquire_permits(
        self, request_id: str, subject: str, method: str, permits: int, holder: str
    ) -> Grant | Refusal:
        hold = qpb.AcquireRatePermitsRequest().hold
        hold.FromTimedelta(self.hold)
        answer = await self.stub.AcquireRatePermits(
            qpb.AcquireRatePermitsRequest(
                request_id=request_id,
                subject=subject,
                method=method,
                permits=permits,
                holder=holder,
                hold=hold,
            ),
            metadata=self.minter.metadata("quota"),
            timeout=self.timeout,
        )
        if not answer.HasField("grant"):
            rule = answer.refused_by
            return Refusal(
                answer.retry_after.ToTimedelta().total_seconds(),
                rule.max_requests,
                rule.window.seconds,
            )
        return Grant(answer.grant.grant_id, answer.grant.permits, self.hold.total_seconds())

    async def return_permits(self, grant_id: str, unused: int) -> None:
        await self.stub.ReturnRatePermits(
            qpb.ReturnRatePermitsRequest(grant_id=grant_id, unused=unused),
            metadata=self.minter.metadata("quota"),
            timeout=self.timeout,
        )
