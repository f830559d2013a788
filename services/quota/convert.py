"""Between quota's protobuf messages and its domain values."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration

from services.quota.model import (
    Alert,
    Charge,
    CostRecord,
    CostTotal,
    Limits,
    Price,
    PricedItem,
    QuotaView,
    RateRule,
    Reservation,
    State,
    Unit,
    UsageItem,
)
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc.convert import enum_pairs, timestamp

UNIT_TO_PB, UNIT_FROM_PB = enum_pairs(Unit, pb.Unit, "UNIT_")
_STATE_TO_PB, _ = enum_pairs(State, pb.ReservationState, "RESERVATION_STATE_")
_LEVEL_TO_PB = {"warning": pb.ALERT_LEVEL_WARNING, "critical": pb.ALERT_LEVEL_CRITICAL}


def duration(delta: timedelta) -> Duration:
    value = Duration()
    value.FromTimedelta(delta)
    return value


def usage_items(items: list[pb.UsageItem]) -> list[UsageItem]:
    return [UsageItem(UNIT_FROM_PB[i.unit], i.amount, i.price_key) for i in items]


def priced(item: PricedItem) -> pb.PricedItem:
    return pb.PricedItem(
        unit=UNIT_TO_PB[item.unit],
        amount=item.amount,
        price_key=item.price_key,
        cost_micro_usd=item.cost_micro_usd,
        price_micro_usd=item.price.micro_usd,
        price_per_amount=item.price.per_amount,
    )


def _charge(c: Charge) -> dict[str, Any]:
    """The fields pb.Reservation and pb.CostRecord share, from what the two have in common."""
    return {
        "subject": c.subject,
        "service": c.service,
        "operation": c.operation,
        "items": [priced(item) for item in c.items],
        "cost_micro_usd": c.cost_micro_usd,
        "create_time": timestamp(c.created_at),
        "period": c.period,
    }


def reservation(r: Reservation) -> pb.Reservation:
    return pb.Reservation(
        **_charge(r),
        reservation_id=r.reservation_id,
        state=_STATE_TO_PB[r.state],
        expire_time=timestamp(r.expires_at),
    )


def cost_record(r: CostRecord) -> pb.CostRecord:
    return pb.CostRecord(
        **_charge(r),
        cost_record_id=r.cost_record_id,
        reservation_id=r.reservation_id or "",
        metadata=r.metadata,
        late=r.late,
        overage=[priced(item) for item in r.overage],
    )


def quota(view: QuotaView) -> pb.GetQuotaResponse:
    usages = []
    for usage in view.usages:
        entry = pb.UnitUsage(unit=UNIT_TO_PB[usage.unit], used=usage.used, reserved=usage.reserved)
        if usage.limit is not None and usage.remaining is not None:
            entry.limit = usage.limit
            entry.remaining = usage.remaining
        usages.append(entry)
    return pb.GetQuotaResponse(
        subject=view.subject, tier=view.tier, period=view.period, usages=usages
    )


def limits_to_pb(limits: Limits) -> pb.Limits:
    return pb.Limits(
        storage_bytes=limits.storage_bytes,
        compute_tokens=limits.compute_tokens,
        cost_micro_usd=limits.cost_micro_usd,
    )


def limits_from_pb(limits: pb.Limits) -> Limits:
    return Limits(
        limits.storage_bytes if limits.HasField("storage_bytes") else None,
        limits.compute_tokens if limits.HasField("compute_tokens") else None,
        limits.cost_micro_usd if limits.HasField("cost_micro_usd") else None,
    )


def price_to_pb(price: Price) -> pb.Price:
    return pb.Price(
        unit=UNIT_TO_PB[price.unit],
        price_key=price.price_key,
        micro_usd=price.micro_usd,
        per_amount=price.per_amount,
    )


def price_from_pb(price: pb.Price) -> Price:
    return Price(UNIT_FROM_PB[price.unit], price.price_key, price.micro_usd, price.per_amount)


def rate_rule_to_pb(rule: RateRule) -> pb.RateLimit:
    return pb.RateLimit(
        method=rule.method,
        window=duration(timedelta(seconds=rule.window_seconds)),
        max_requests=rule.max_requests,
        tier=rule.tier,
    )


def cost_total(total: CostTotal) -> pb.CostTotal:
    return pb.CostTotal(
        service=total.service,
        unit=UNIT_TO_PB[total.unit],
        amount=total.amount,
        cost_micro_usd=total.cost_micro_usd,
    )


def alert(a: Alert) -> pb.Alert:
    return pb.Alert(
        alert_id=a.alert_id,
        subject=a.subject,
        unit=UNIT_TO_PB[a.unit],
        level=_LEVEL_TO_PB[a.level],
        period=a.period,
        used=a.used,
        limit=a.limit,
        create_time=timestamp(a.created_at),
    )
