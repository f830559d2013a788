"""RPCs of a subject's usage: its standing, what usage would cost, and giving stored bytes back."""

from __future__ import annotations

from services.quota import convert, validate
from services.quota.deps import Deps
from services.quota.model import PricedItem
from services.quota.store import limits, usage
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_db import Connection, Request
from zerog_grpc import Problems, Rpcs, current_caller
from zerog_grpc.handlers import Context


async def standing(deps: Deps, subject: str) -> pb.GetQuotaResponse:
    """A subject's tier, limits and usage this month."""
    return convert.quota(
        await limits.quota_view(deps.pool, subject, deps.default_tier, deps.month())
    )


class UsageRpcs(Rpcs[Deps]):
    """GetQuota, EstimateCost and ReleaseUsage."""

    async def GetQuota(self, request: pb.GetQuotaRequest, context: Context) -> pb.GetQuotaResponse:
        problems = validate.names(request, "subject")
        problems.raise_if_any("invalid GetQuotaRequest")
        return await standing(self.deps, request.subject)

    async def EstimateCost(
        self, request: pb.EstimateCostRequest, context: Context
    ) -> pb.EstimateCostResponse:
        problems = Problems()
        validate.usage_items(problems, "items", request.items, need_positive=False)
        problems.raise_if_any("invalid EstimateCostRequest")
        items = convert.usage_items(list(request.items))
        prices = await limits.prices_for(self.deps.pool, {(i.unit, i.price_key) for i in items})
        priced = [
            convert.priced(PricedItem(prices[(item.unit, item.price_key)], item.amount))
            for item in items
        ]
        return pb.EstimateCostResponse(
            items=priced, total_cost_micro_usd=sum(item.cost_micro_usd for item in priced)
        )

    async def ReleaseUsage(
        self, request: pb.ReleaseUsageRequest, context: Context
    ) -> pb.ReleaseUsageResponse:
        problems = validate.names(request, "subject")
        problems.request_id("request_id", request.request_id)
        for i, item in enumerate(request.items):
            if item.unit != pb.UNIT_STORAGE_BYTES:
                problems.add(f"items[{i}].unit", "only UNIT_STORAGE_BYTES can be given back")
            elif item.amount <= 0:
                problems.add(f"items[{i}].amount", "must be positive")
        validate.usage_items(problems, "items", request.items, need_positive=True)
        problems.raise_if_any("invalid ReleaseUsageRequest")
        items = convert.usage_items(list(request.items))
        month = self.deps.month()

        async def give_back(conn: Connection) -> pb.ReleaseUsageResponse:
            released = await usage.release_usage(conn, request.subject, items, month)
            return pb.ReleaseUsageResponse(
                released=[
                    pb.UsageItem(unit=convert.UNIT_TO_PB[unit], amount=amount)
                    for unit, amount in sorted(released.items())
                ]
            )

        fingerprint = usage.release_fingerprint(request.subject, items)
        key = Request(current_caller().service, request.request_id, "ReleaseUsage", fingerprint)
        return await self.deps.once.run_in_transaction(key, pb.ReleaseUsageResponse, give_back)
