"""RPCs of the limits an admin keeps: tiers and subjects' tiers, the price table, rate limits
(and checking a call against them)."""

from __future__ import annotations

from services.quota import convert, validate
from services.quota.deps import Deps
from services.quota.model import Limits, RateRule
from services.quota.rpc_usage import standing
from services.quota.store import limits, ratelimit
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Problems, Rpcs, current_caller
from zerog_grpc.handlers import Context


class LimitRpcs(Rpcs[Deps]):
    """Tiers, prices and rate limits."""

    async def SetSubjectTier(
        self, request: pb.SetSubjectTierRequest, context: Context
    ) -> pb.SetSubjectTierResponse:
        problems = validate.names(request, "subject", "tier")
        validate.limits(problems, "custom_limits", request.custom_limits)
        custom = Limits()
        if request.HasField("custom_limits"):
            if request.tier != "custom":
                problems.add("custom_limits", "only the custom tier takes custom limits")
            custom = convert.limits_from_pb(request.custom_limits)
        problems.raise_if_any("invalid SetSubjectTierRequest")
        await limits.set_subject_tier(self.deps.pool, request.subject, request.tier, custom)
        return pb.SetSubjectTierResponse(quota=await standing(self.deps, request.subject))

    async def ListTiers(
        self, request: pb.ListTiersRequest, context: Context
    ) -> pb.ListTiersResponse:
        tiers = await limits.list_tiers(self.deps.pool)
        return pb.ListTiersResponse(
            tiers=[pb.Tier(name=name, limits=convert.limits_to_pb(lim)) for name, lim in tiers]
        )

    async def SetTierLimits(
        self, request: pb.SetTierLimitsRequest, context: Context
    ) -> pb.SetTierLimitsResponse:
        problems = validate.names(request, "tier")
        validate.limits(problems, "limits", request.limits)
        problems.raise_if_any("invalid SetTierLimitsRequest")
        new = convert.limits_from_pb(request.limits)
        await limits.set_tier_limits(self.deps.pool, request.tier, new)
        return pb.SetTierLimitsResponse(
            tier=pb.Tier(name=request.tier, limits=convert.limits_to_pb(new))
        )

    async def SetPrice(self, request: pb.SetPriceRequest, context: Context) -> pb.SetPriceResponse:
        problems = Problems()
        price = request.price
        validate.metered_unit(problems, "price.unit", price.unit)
        problems.name("price.price_key", price.price_key, required=False)
        problems.not_negative("price.micro_usd", price.micro_usd)
        if price.per_amount <= 0:
            problems.add("price.per_amount", "must be positive")
        problems.raise_if_any("invalid SetPriceRequest")
        await limits.set_price(self.deps.pool, convert.price_from_pb(price))
        return pb.SetPriceResponse(price=price)

    async def ListPrices(
        self, request: pb.ListPricesRequest, context: Context
    ) -> pb.ListPricesResponse:
        prices = await limits.list_prices(self.deps.pool)
        return pb.ListPricesResponse(prices=[convert.price_to_pb(p) for p in prices])

    async def CheckRateLimit(
        self, request: pb.CheckRateLimitRequest, context: Context
    ) -> pb.CheckRateLimitResponse:
        problems = validate.names(request, "subject", "method")
        problems.raise_if_any("invalid CheckRateLimitRequest")
        windows = await ratelimit.check(
            self.deps.pool,
            current_caller().service,
            request.subject,
            request.method,
            self.deps.clock(),
            self.deps.default_tier,
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
        problems.name("limit.tier", request.limit.tier, required=False)
        window = problems.duration("limit.window", request.limit.window)
        seconds = validate.rate_window(problems, "limit.window", window)
        problems.not_negative("limit.max_requests", request.limit.max_requests)
        problems.raise_if_any("invalid SetRateLimitRequest")
        rule = RateRule(
            request.limit.method, seconds, request.limit.max_requests, request.limit.tier
        )
        await ratelimit.set_rule(self.deps.pool, rule)
        return pb.SetRateLimitResponse(limit=convert.rate_rule_to_pb(rule))

    async def DeleteRateLimit(
        self, request: pb.DeleteRateLimitRequest, context: Context
    ) -> pb.DeleteRateLimitResponse:
        problems = validate.names(request, "method", optional=("tier",))
        window = problems.duration("window", request.window)
        seconds = validate.any_window(problems, "window", window)
        problems.raise_if_any("invalid DeleteRateLimitRequest")
        await ratelimit.delete_rule(self.deps.pool, request.method, request.tier, seconds)
        return pb.DeleteRateLimitResponse()

    async def ListRateLimits(
        self, request: pb.ListRateLimitsRequest, context: Context
    ) -> pb.ListRateLimitsResponse:
        stored = await ratelimit.list_rules(self.deps.pool)
        return pb.ListRateLimitsResponse(
            limits=[convert.rate_rule_to_pb(rule) for rule in stored],
            defaults=[convert.rate_rule_to_pb(rule) for rule in self.deps.rate_limits],
        )
