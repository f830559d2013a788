"""QuotaService: validate each request, call the store, map domain errors to statuses."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import asyncpg
import grpc
from google.protobuf.message import Message

from services.quota import (
    convert,
    limits,
    ratelimit,
    records,
    reservations,
    usage_release,
    validate,
)
from services.quota.alerts import AlertHub
from services.quota.errors import (
    CommitItemNotReserved,
    QuotaError,
    QuotaExceeded,
    RateLimited,
    RateLimitNotFound,
    RequestIdReused,
    ReservationFinished,
    ReservationNotFound,
    ReservationNotOwned,
    TierNotFound,
)
from services.quota.model import Limits, PricedItem, RateRule, UsageItem, month_of
from services.quota.reservations import ReserveArgs
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_grpc import (
    abort,
    bad_request,
    current_caller,
    error_info,
    precondition_failure,
    quota_failure,
    retry_info,
)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["QuotaService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]
Clock = Callable[[], datetime]


# Windows are stored in an integer column.
MAX_WINDOW_SECONDS = 2**31 - 1


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _invalid(context: Context, what: str, problems: dict[str, str]) -> NoReturn:
    await abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"invalid {what}", bad_request(problems))


async def _fail(context: Context, error: QuotaError) -> NoReturn:
    """The one place where quota's domain errors become statuses with typed details."""
    code, details = grpc.StatusCode.INTERNAL, list[Message]()
    match error:
        case QuotaExceeded():
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            details = [
                quota_failure(f"{error.subject}:{error.unit.value}", str(error)),
                error_info(
                    "QUOTA_EXCEEDED",
                    unit=error.unit.value,
                    limit=str(error.limit),
                    available=str(error.available),
                    requested=str(error.requested),
                ),
            ]
        case RateLimited():
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            seconds = max(error.retry_after.total_seconds(), 0.001)
            details = [
                quota_failure(f"{error.subject}:{error.rule.method}", str(error)),
                retry_info(seconds),
                error_info(
                    "RATE_LIMITED",
                    window_seconds=str(error.rule.window_seconds),
                    max_requests=str(error.rule.max_requests),
                ),
            ]
        case RequestIdReused():
            code = grpc.StatusCode.ALREADY_EXISTS
            details = [error_info("REQUEST_ID_REUSED", request_id=error.request_id)]
        case ReservationNotFound():
            code = grpc.StatusCode.NOT_FOUND
            details = [error_info("RESERVATION_NOT_FOUND", reservation_id=error.reservation_id)]
        case ReservationNotOwned():
            code = grpc.StatusCode.PERMISSION_DENIED
            details = [error_info("RESERVATION_NOT_OWNED", reservation_id=error.reservation_id)]
        case ReservationFinished():
            code = grpc.StatusCode.FAILED_PRECONDITION
            reason = f"RESERVATION_{error.state.upper()}"
            details = [
                precondition_failure(reason, f"reservation:{error.reservation_id}", str(error)),
                error_info(reason, reservation_id=error.reservation_id),
            ]
        case CommitItemNotReserved():
            await _invalid(context, "CommitRequest", error.problems)
        case TierNotFound():
            code = grpc.StatusCode.NOT_FOUND
            details = [error_info("TIER_NOT_FOUND", tier=error.tier)]
        case RateLimitNotFound():
            code = grpc.StatusCode.NOT_FOUND
            details = [error_info("RATE_LIMIT_NOT_FOUND", method=error.method)]
    await abort(context, code, str(error), *details)


class QuotaService(quota_service_pb2_grpc.QuotaServiceServicer):
    """Budgets, reservations, prices, rate limits, cost records and alerts."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        hub: AlertHub,
        *,
        default_tier: str,
        rate_limits: list[RateRule],
        default_ttl: timedelta,
        max_ttl: timedelta,
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._hub = hub
        self._default_tier = default_tier
        self._rate_limits = rate_limits
        self._default_ttl = default_ttl
        self._max_ttl = max_ttl
        self._clock = clock

    async def Reserve(self, request: pb.ReserveRequest, context: Context) -> pb.ReserveResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.name(problems, "subject", request.subject)
        validate.name(problems, "operation", request.operation, required=False)
        validate.usage_items(problems, "items", request.items, need_positive=True)
        ttl = (
            validate.duration(problems, "ttl", request.ttl)
            if request.HasField("ttl")
            else self._default_ttl
        )
        if "ttl" not in problems and not timedelta(0) < ttl <= self._max_ttl:
            problems["ttl"] = f"must be positive and at most {int(self._max_ttl.total_seconds())} s"
        if problems:
            await _invalid(context, "ReserveRequest", problems)
        items = convert.usage_items(list(request.items))
        args = ReserveArgs(
            service=current_caller().service,
            request_id=request.request_id,
            request_hash=_request_hash(request.subject, request.operation, items, ttl),
            subject=request.subject,
            operation=request.operation,
            items=items,
            ttl=ttl,
        )
        try:
            found = await reservations.reserve(self._pool, args, self._clock(), self._default_tier)
        except QuotaError as error:
            await _fail(context, error)
        return pb.ReserveResponse(reservation=convert.reservation(found))

    async def Commit(self, request: pb.CommitRequest, context: Context) -> pb.CommitResponse:
        problems: dict[str, str] = {}
        validate.reservation_id(problems, "reservation_id", request.reservation_id)
        validate.usage_items(problems, "items", request.items, need_positive=False)
        for key, value in request.metadata.items():
            validate.name(problems, f"metadata[{key[:40]}]", key)
            if len(value) > 4096:
                problems[f"metadata[{key[:40]}]"] = "values are at most 4096 characters"
        if problems:
            await _invalid(context, "CommitRequest", problems)
        try:
            reservation, record = await reservations.commit(
                self._pool,
                current_caller().service,
                request.reservation_id,
                convert.usage_items(list(request.items)),
                dict(request.metadata),
                self._clock(),
                self._default_tier,
            )
        except QuotaError as error:
            await _fail(context, error)
        return pb.CommitResponse(
            reservation=convert.reservation(reservation), cost_record=convert.cost_record(record)
        )

    async def Release(self, request: pb.ReleaseRequest, context: Context) -> pb.ReleaseResponse:
        problems: dict[str, str] = {}
        validate.reservation_id(problems, "reservation_id", request.reservation_id)
        if problems:
            await _invalid(context, "ReleaseRequest", problems)
        try:
            found = await reservations.release(
                self._pool, current_caller().service, request.reservation_id, self._clock()
            )
        except QuotaError as error:
            await _fail(context, error)
        return pb.ReleaseResponse(reservation=convert.reservation(found))

    async def ReleaseUsage(
        self, request: pb.ReleaseUsageRequest, context: Context
    ) -> pb.ReleaseUsageResponse:
        problems: dict[str, str] = {}
        validate.request_id(problems, "request_id", request.request_id)
        validate.name(problems, "subject", request.subject)
        validate.usage_items(problems, "items", request.items, need_positive=True)
        for i, item in enumerate(request.items):
            if item.unit != pb.UNIT_STORAGE_BYTES:
                problems[f"items[{i}].unit"] = "only UNIT_STORAGE_BYTES can be given back"
            elif item.amount <= 0:
                problems[f"items[{i}].amount"] = "must be positive"
        if problems:
            await _invalid(context, "ReleaseUsageRequest", problems)
        try:
            released = await usage_release.release_usage(
                self._pool,
                current_caller().service,
                request.request_id,
                request.subject,
                convert.usage_items(list(request.items)),
                month_of(self._clock()),
            )
        except QuotaError as error:
            await _fail(context, error)
        return pb.ReleaseUsageResponse(
            released=[
                pb.UsageItem(unit=convert.UNIT_TO_PB[unit], amount=amount)
                for unit, amount in sorted(released.items())
            ]
        )

    async def EstimateCost(
        self, request: pb.EstimateCostRequest, context: Context
    ) -> pb.EstimateCostResponse:
        problems: dict[str, str] = {}
        validate.usage_items(problems, "items", request.items, need_positive=False)
        if problems:
            await _invalid(context, "EstimateCostRequest", problems)
        items = convert.usage_items(list(request.items))
        prices = await limits.prices_for(self._pool, {(i.unit, i.price_key) for i in items})
        priced = [
            convert.priced(PricedItem(prices[(item.unit, item.price_key)], item.amount))
            for item in items
        ]
        return pb.EstimateCostResponse(
            items=priced, total_cost_micro_usd=sum(item.cost_micro_usd for item in priced)
        )

    async def GetQuota(self, request: pb.GetQuotaRequest, context: Context) -> pb.GetQuotaResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "subject", request.subject)
        if problems:
            await _invalid(context, "GetQuotaRequest", problems)
        return await self._quota(request.subject, context)

    async def _quota(self, subject: str, context: Context) -> pb.GetQuotaResponse:
        try:
            view = await limits.quota_view(
                self._pool, subject, self._default_tier, month_of(self._clock())
            )
        except QuotaError as error:
            await _fail(context, error)
        return convert.quota(view)

    async def SetSubjectTier(
        self, request: pb.SetSubjectTierRequest, context: Context
    ) -> pb.SetSubjectTierResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "subject", request.subject)
        validate.name(problems, "tier", request.tier)
        validate.limits(problems, "custom_limits", request.custom_limits)
        if request.HasField("custom_limits") and request.tier != "custom":
            problems["custom_limits"] = "only the custom tier takes custom limits"
        if problems:
            await _invalid(context, "SetSubjectTierRequest", problems)
        custom = (
            convert.limits_from_pb(request.custom_limits)
            if request.HasField("custom_limits")
            else Limits()
        )
        try:
            await limits.set_subject_tier(self._pool, request.subject, request.tier, custom)
        except QuotaError as error:
            await _fail(context, error)
        return pb.SetSubjectTierResponse(quota=await self._quota(request.subject, context))

    async def ListTiers(
        self, request: pb.ListTiersRequest, context: Context
    ) -> pb.ListTiersResponse:
        tiers = await limits.list_tiers(self._pool)
        return pb.ListTiersResponse(
            tiers=[pb.Tier(name=name, limits=convert.limits_to_pb(lim)) for name, lim in tiers]
        )

    async def SetTierLimits(
        self, request: pb.SetTierLimitsRequest, context: Context
    ) -> pb.SetTierLimitsResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "tier", request.tier)
        validate.limits(problems, "limits", request.limits)
        if problems:
            await _invalid(context, "SetTierLimitsRequest", problems)
        new = convert.limits_from_pb(request.limits)
        try:
            await limits.set_tier_limits(self._pool, request.tier, new)
        except QuotaError as error:
            await _fail(context, error)
        return pb.SetTierLimitsResponse(
            tier=pb.Tier(name=request.tier, limits=convert.limits_to_pb(new))
        )

    async def SetPrice(self, request: pb.SetPriceRequest, context: Context) -> pb.SetPriceResponse:
        problems: dict[str, str] = {}
        price = request.price
        validate.metered_unit(problems, "price.unit", price.unit)
        validate.name(problems, "price.price_key", price.price_key, required=False)
        if price.micro_usd < 0:
            problems["price.micro_usd"] = "must not be negative"
        if price.per_amount <= 0:
            problems["price.per_amount"] = "must be positive"
        if problems:
            await _invalid(context, "SetPriceRequest", problems)
        await limits.set_price(self._pool, convert.price_from_pb(price))
        return pb.SetPriceResponse(price=price)

    async def ListPrices(
        self, request: pb.ListPricesRequest, context: Context
    ) -> pb.ListPricesResponse:
        prices = await limits.list_prices(self._pool)
        return pb.ListPricesResponse(prices=[convert.price_to_pb(p) for p in prices])

    async def CheckRateLimit(
        self, request: pb.CheckRateLimitRequest, context: Context
    ) -> pb.CheckRateLimitResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "subject", request.subject)
        validate.name(problems, "method", request.method)
        if problems:
            await _invalid(context, "CheckRateLimitRequest", problems)
        try:
            windows = await ratelimit.check(
                self._pool, request.subject, request.method, self._clock(), self._rate_limits
            )
        except QuotaError as error:
            await _fail(context, error)
        return pb.CheckRateLimitResponse(
            windows=[
                pb.RateLimitWindow(limit=convert.rate_rule_to_pb(w.rule), remaining=w.remaining)
                for w in windows
            ]
        )

    async def SetRateLimit(
        self, request: pb.SetRateLimitRequest, context: Context
    ) -> pb.SetRateLimitResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "limit.method", request.limit.method)
        window = validate.duration(problems, "limit.window", request.limit.window)
        seconds = window.total_seconds()
        if "limit.window" not in problems and not (
            1 <= seconds <= MAX_WINDOW_SECONDS and seconds == int(seconds)
        ):
            problems["limit.window"] = "must be a whole number of seconds, at least 1"
        if request.limit.max_requests < 0:
            problems["limit.max_requests"] = "must not be negative"
        if problems:
            await _invalid(context, "SetRateLimitRequest", problems)
        rule = RateRule(
            request.limit.method, int(window.total_seconds()), request.limit.max_requests
        )
        await ratelimit.set_rule(self._pool, rule)
        return pb.SetRateLimitResponse(limit=convert.rate_rule_to_pb(rule))

    async def DeleteRateLimit(
        self, request: pb.DeleteRateLimitRequest, context: Context
    ) -> pb.DeleteRateLimitResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "method", request.method)
        window = validate.duration(problems, "window", request.window)
        if not 0 <= window.total_seconds() <= MAX_WINDOW_SECONDS:
            problems["window"] = f"must be between 0 and {MAX_WINDOW_SECONDS} s"
        if problems:
            await _invalid(context, "DeleteRateLimitRequest", problems)
        try:
            await ratelimit.delete_rule(self._pool, request.method, int(window.total_seconds()))
        except QuotaError as error:
            await _fail(context, error)
        return pb.DeleteRateLimitResponse()

    async def ListRateLimits(
        self, request: pb.ListRateLimitsRequest, context: Context
    ) -> pb.ListRateLimitsResponse:
        stored = await ratelimit.list_rules(self._pool)
        return pb.ListRateLimitsResponse(
            limits=[convert.rate_rule_to_pb(rule) for rule in stored],
            defaults=[convert.rate_rule_to_pb(rule) for rule in self._rate_limits],
        )

    async def ListCostRecords(
        self, request: pb.ListCostRecordsRequest, context: Context
    ) -> pb.ListCostRecordsResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "subject", request.subject)
        validate.name(problems, "service", request.service, required=False)
        if not 0 <= request.page_size <= 500:
            problems["page_size"] = "must be between 0 and 500"
        start = (
            validate.timestamp(problems, "start_time", request.start_time)
            if request.HasField("start_time")
            else None
        )
        end = (
            validate.timestamp(problems, "end_time", request.end_time)
            if request.HasField("end_time")
            else None
        )
        if start and end and end <= start:
            problems["end_time"] = "must be after start_time"
        if request.page_token:
            try:
                records.decode_page_token(request.page_token)
            except records.BadPageToken:
                problems["page_token"] = "not a page token from this service"
        if problems:
            await _invalid(context, "ListCostRecordsRequest", problems)
        query = records.RecordQuery(
            request.subject,
            start,
            end,
            request.service,
            request.page_size or 50,
            request.page_token,
        )
        found, token = await records.list_cost_records(self._pool, query)
        return pb.ListCostRecordsResponse(
            cost_records=[convert.cost_record(r) for r in found], next_page_token=token
        )

    async def GetCostSummary(
        self, request: pb.GetCostSummaryRequest, context: Context
    ) -> pb.GetCostSummaryResponse:
        problems: dict[str, str] = {}
        validate.name(problems, "subject", request.subject)
        validate.period(problems, "period", request.period)
        if problems:
            await _invalid(context, "GetCostSummaryRequest", problems)
        period = request.period or month_of(self._clock())
        totals = await records.cost_summary(self._pool, request.subject, period)
        return pb.GetCostSummaryResponse(
            subject=request.subject,
            period=period,
            totals=[convert.cost_total(t) for t in totals],
            total_cost_micro_usd=sum(t.cost_micro_usd for t in totals),
        )

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Context
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        problems: dict[str, str] = {}
        if request.after_alert_id < 0:
            problems["after_alert_id"] = "must not be negative"
        validate.name(problems, "subject", request.subject, required=False)
        if problems:
            await _invalid(context, "WatchAlertsRequest", problems)
        async for alert in self._hub.watch(request.after_alert_id, request.subject):
            yield pb.WatchAlertsResponse(alert=convert.alert(alert))


def _request_hash(subject: str, operation: str, items: list[UsageItem], ttl: timedelta) -> str:
    """Fingerprint of what a request asks for, to tell a retry from a reused request_id."""
    parts = [subject, operation, str(ttl.total_seconds())]
    parts += [f"{i.unit.value}:{i.price_key}:{i.amount}" for i in items]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
