"""RPCs of rate permits: AcquireRatePermits grants a holder permits to admit calls locally,
ReturnRatePermits gives back the ones it did not use."""

from __future__ import annotations

from datetime import timedelta

from services.quota import convert, validate
from services.quota.convert import duration
from services.quota.deps import Deps
from services.quota.store import ratelimit
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_db import Connection, Request
from zerog_grpc import Problems, Rpcs, current_caller
from zerog_grpc.convert import timestamp
from zerog_grpc.handlers import Context

# How long a holder may use its permits unless it asks otherwise, and at most.
DEFAULT_HOLD = timedelta(seconds=5)
MAX_HOLD = timedelta(minutes=1)
# The most permits one grant may carry.
MAX_PERMITS = 10_000


def _windows(found: ratelimit.Granted) -> list[pb.RateLimitWindow]:
    return [
        pb.RateLimitWindow(limit=convert.rate_rule_to_pb(w.rule), remaining=w.remaining)
        for w in found.windows
    ]


class RateRpcs(Rpcs[Deps]):
    """AcquireRatePermits and ReturnRatePermits."""

    async def AcquireRatePermits(
        self, request: pb.AcquireRatePermitsRequest, context: Context
    ) -> pb.AcquireRatePermitsResponse:
        problems = validate.names(request, "subject", "method", optional=("holder",))
        problems.request_id("request_id", request.request_id)
        problems.within("permits", request.permits, 1, MAX_PERMITS)
        hold = DEFAULT_HOLD
        if request.HasField("hold"):
            hold = problems.duration("hold", request.hold)
            if not timedelta(0) < hold <= MAX_HOLD:
                problems.add("hold", f"must be positive and at most {MAX_HOLD.seconds} s")
        problems.raise_if_any("invalid AcquireRatePermitsRequest")
        service = current_caller().service
        ask = ratelimit.PermitAsk(
            request.subject, request.method, request.permits, request.holder, hold
        )

        async def work(conn: Connection) -> pb.AcquireRatePermitsResponse:
            found = await ratelimit.grant(
                conn,
                service,
                ask,
                self.deps.clock(),
                self.deps.default_tier,
                self.deps.rate_limits,
            )
            answer = pb.AcquireRatePermitsResponse(windows=_windows(found))
            if found.refused_by is not None:
                answer.refused_by.CopyFrom(convert.rate_rule_to_pb(found.refused_by))
                answer.retry_after.CopyFrom(duration(found.retry_after))
            elif found.grant_id is not None and found.expires_at is not None:
                answer.grant.CopyFrom(
                    pb.RateGrant(
                        grant_id=found.grant_id,
                        permits=found.permits,
                        expire_time=timestamp(found.expires_at),
                    )
                )
            return answer

        key = Request.of(service, request.request_id, "AcquireRatePermits", request)
        return await self.deps.once.run_in_transaction(key, pb.AcquireRatePermitsResponse, work)

    async def ReturnRatePermits(
        self, request: pb.ReturnRatePermitsRequest, context: Context
    ) -> pb.ReturnRatePermitsResponse:
        problems = Problems()
        validate.reservation_id(problems, "grant_id", request.grant_id)
        problems.not_negative("unused", request.unused)
        problems.raise_if_any("invalid ReturnRatePermitsRequest")
        await ratelimit.return_unused(
            self.deps.pool, current_caller().service, request.grant_id, request.unused
        )
        return pb.ReturnRatePermitsResponse()
