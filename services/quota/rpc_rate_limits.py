"""RPCs of rate limits: checking (and counting) a call, and the rules an admin keeps."""

from __future__ import annotations

from services.quota import convert, validate
from services.quota.deps import Deps
from services.quota.model import RateRule
from services.quota.store import ratelimit
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Problems
from zerog_grpc.handlers import Context


class RateLimitRpcs:
    """CheckRateLimit, SetRateLimit, DeleteRateLimit and ListRateLimits."""

    deps: Deps

    async def CheckRateLimit(
        self, request: pb.CheckRateLimitRequest, context: Context
    ) -> pb.CheckRateLimitResponse:
        problems = Problems()
        problems.name("subject", request.subject)
        problems.name("method", request.method)
        problems.raise_if_any("invalid CheckRateLimitRequest")
        windows = await ratelimit.check(
            self.deps.pool,
            request.subject,
            request.method,
            self.deps.clock(),
            self.deps.rate_limits,
        )
        return pb.CheckRateLimitResponse(
            windows=[
                pb.RateLimitWindow(limit=convert.rate_rule_to_pb(w.rule), remaining=w.remaining)
                for w in windows
            ]
        )

    async def SetRateLimit(
        self, request: pb.SetRateLimitRequest, context: Context
    ) -> pb.SetRateLimitResponse:
        problems = Problems()
        problems.name("limit.method", request.limit.method)
        window = problems.duration("limit.window", request.limit.window)
        seconds = validate.rate_window(problems, "limit.window", window)
        problems.not_negative("limit.max_requests", request.limit.max_requests)
        problems.raise_if_any("invalid SetRateLimitRequest")
        rule = RateRule(request.limit.method, seconds, request.limit.max_requests)
        await ratelimit.set_rule(self.deps.pool, rule)
        return pb.SetRateLimitResponse(limit=convert.rate_rule_to_pb(rule))

    async def DeleteRateLimit(
        self, request: pb.DeleteRateLimitRequest, context: Context
    ) -> pb.DeleteRateLimitResponse:
        problems = Problems()
        problems.name("method", request.method)
        window = problems.duration("window", request.window)
        seconds = validate.any_window(problems, "window", window)
        problems.raise_if_any("invalid DeleteRateLimitRequest")
        await ratelimit.delete_rule(self.deps.pool, request.method, seconds)
        return pb.DeleteRateLimitResponse()

    async def ListRateLimits(
        self, request: pb.ListRateLimitsRequest, context: Context
    ) -> pb.ListRateLimitsResponse:
        stored = await ratelimit.list_rules(self.deps.pool)
        return pb.ListRateLimitsResponse(
            limits=[convert.rate_rule_to_pb(rule) for rule in stored],
            defaults=[convert.rate_rule_to_pb(rule) for rule in self.deps.rate_limits],
        )
