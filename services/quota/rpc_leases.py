"""RPCs of budget leases: AcquireLease sets budget aside for a holder, ReportLeaseSpends counts
what it spent, ReturnLease gives the rest back."""

from __future__ import annotations

from services.quota import validate
from services.quota.deps import Deps
from services.quota.errors import ERRORS
from services.quota.store import leases
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_db import Connection, Request
from zerog_grpc import Problems, Rpcs, current_caller
from zerog_grpc.convert import timestamp
from zerog_grpc.errormap import each_item
from zerog_grpc.handlers import Context

# The most spends one ReportLeaseSpends may carry.
MAX_SPENDS = 500
_STATES = {
    "live": pb.LEASE_STATE_LIVE,
    "returned": pb.LEASE_STATE_RETURNED,
    "expired": pb.LEASE_STATE_EXPIRED,
}


def _lease(lease: leases.Lease) -> pb.Lease:
    same = ("lease_id", "subject", "holder", "price_key", "tokens", "cost_micro_usd", "period")
    return pb.Lease(
        **{name: getattr(lease, name) for name in same},
        price_micro_usd=lease.micro_usd,
        price_per_amount=lease.per_amount,
        expire_time=timestamp(lease.expires_at),
        state=_STATES[lease.state],
    )


class LeaseRpcs(Rpcs[Deps]):
    """AcquireLease, ReportLeaseSpends and ReturnLease."""

    async def AcquireLease(
        self, request: pb.AcquireLeaseRequest, context: Context
    ) -> pb.AcquireLeaseResponse:
        problems = validate.names(request, "subject", optional=("price_key", "holder", "operation"))
        problems.request_id("request_id", request.request_id)
        if request.tokens <= 0:
            problems.add("tokens", "must be positive")
        problems.within("min_tokens", request.min_tokens, 0, max(request.tokens, 0))
        ttl = validate.ttl(problems, request, self.deps.default_ttl, self.deps.max_ttl)
        problems.raise_if_any("invalid AcquireLeaseRequest")
        service = current_caller().service
        asked = ("subject", "price_key", "tokens", "min_tokens", "holder", "operation")
        ask = leases.LeaseAsk(**{name: getattr(request, name) for name in asked}, ttl=ttl)

        async def work(conn: Connection) -> pb.AcquireLeaseResponse:
            found = await leases.acquire(
                conn, service, ask, self.deps.clock(), self.deps.default_tier
            )
            answer = pb.AcquireLeaseResponse(available_tokens=found.available)
            answer.held_tokens = found.held
            if found.lease is not None:
                answer.lease.CopyFrom(_lease(found.lease))
            return answer

        key = Request.of(service, request.request_id, "AcquireLease", request)
        return await self.deps.once.run_in_transaction(key, pb.AcquireLeaseResponse, work)

    async def ReportLeaseSpends(
        self, request: pb.ReportLeaseSpendsRequest, context: Context
    ) -> pb.ReportLeaseSpendsResponse:
        problems = Problems()
        problems.within("spends", len(request.spends), 1, MAX_SPENDS)
        for i, spend in enumerate(request.spends):
            validate.reservation_id(problems, f"spends[{i}].lease_id", spend.lease_id)
            problems.name(f"spends[{i}].spend_id", spend.spend_id)
            problems.not_negative(f"spends[{i}].tokens", spend.tokens)
        problems.raise_if_any("invalid ReportLeaseSpendsRequest")
        service = current_caller().service

        async def count(spend: pb.LeaseSpend) -> pb.LeaseSpent:
            asked = (spend.lease_id, spend.spend_id, spend.tokens, dict(spend.metadata))
            spent = await leases.report(self.deps.pool, service, asked, self.deps.clock())
            return pb.LeaseSpent(cost_micro_usd=spent.cost_micro_usd, late=spent.late)

        results = await each_item(request.spends, count, ERRORS, pb.LeaseSpendResult, "spent")
        return pb.ReportLeaseSpendsResponse(results=results)

    async def ReturnLease(
        self, request: pb.ReturnLeaseRequest, context: Context
    ) -> pb.ReturnLeaseResponse:
        problems = Problems()
        validate.reservation_id(problems, "lease_id", request.lease_id)
        problems.not_negative("spent_tokens", request.spent_tokens)
        problems.not_negative("spent_cost_micro_usd", request.spent_cost_micro_usd)
        problems.raise_if_any("invalid ReturnLeaseRequest")
        spent = (request.spent_tokens, request.spent_cost_micro_usd)
        service = current_caller().service
        lease = await leases.give_back(
            self.deps.pool, service, request.lease_id, spent, self.deps.clock()
        )
        return pb.ReturnLeaseResponse(lease=_lease(lease))
