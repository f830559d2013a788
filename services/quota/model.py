"""The quota domain: units, priced usage, reservations, records and alerts, as plain values."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Alert thresholds in percent of a limit, lowest first.
WARNING_PERCENT = 80
CRITICAL_PERCENT = 100
# Storage is a standing amount, not a monthly flow: its usage row never resets.
ALL_TIME = "all"


class Unit(enum.StrEnum):
    """What an amount counts; the value is how the database spells it."""

    STORAGE_BYTES = "storage_bytes"
    COMPUTE_TOKENS = "compute_tokens"
    COST_MICRO_USD = "cost_micro_usd"


# Units a caller reserves directly; cost is derived from them by price.
METERED_UNITS = (Unit.STORAGE_BYTES, Unit.COMPUTE_TOKENS)


def month_of(moment: datetime) -> str:
    """The calendar month (UTC) a moment falls in, "YYYY-MM"."""
    return f"{moment.year:04d}-{moment.month:02d}"


def usage_period(unit: Unit, month: str) -> str:
    """The usage row a unit counts in: all time for storage, the month for the rest."""
    return ALL_TIME if unit is Unit.STORAGE_BYTES else month


@dataclass(frozen=True)
class Price:
    """micro_usd per `per_amount` units of `unit` for `price_key` ('' is the default)."""

    unit: Unit
    price_key: str
    micro_usd: int
    per_amount: int

    def cost(self, amount: int) -> int:
        """The cost of `amount`, rounded up so usage is never undercharged."""
        return -(-amount * self.micro_usd // self.per_amount)


@dataclass(frozen=True)
class UsageItem:
    """An amount of a metered unit, priced by price_key."""

    unit: Unit
    amount: int
    price_key: str = ""


@dataclass(frozen=True)
class PricedItem:
    """An amount at a price fixed when it was reserved, so a later price change cannot make a
    commit cost more than its reservation."""

    price: Price
    amount: int

    @property
    def unit(self) -> Unit:
        return self.price.unit

    @property
    def price_key(self) -> str:
        return self.price.price_key

    @property
    def cost_micro_usd(self) -> int:
        return self.price.cost(self.amount)

    def with_amount(self, amount: int) -> PricedItem:
        return PricedItem(self.price, amount)

    def to_json(self) -> dict[str, object]:
        return {
            "unit": self.unit.value,
            "price_key": self.price_key,
            "amount": self.amount,
            "micro_usd": self.price.micro_usd,
            "per_amount": self.price.per_amount,
            "cost_micro_usd": self.cost_micro_usd,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PricedItem:
        price = Price(Unit(data["unit"]), data["price_key"], data["micro_usd"], data["per_amount"])
        return cls(price, data["amount"])


def totals(items: list[PricedItem]) -> dict[Unit, int]:
    """What the items draw from each budget, cost included."""
    amounts: dict[Unit, int] = {}
    for item in items:
        amounts[item.unit] = amounts.get(item.unit, 0) + item.amount
    cost = sum(item.cost_micro_usd for item in items)
    if cost:
        amounts[Unit.COST_MICRO_USD] = cost
    return amounts


@dataclass(frozen=True)
class Limits:
    """The three budgets; None is unlimited."""

    storage_bytes: int | None = None
    compute_tokens: int | None = None
    cost_micro_usd: int | None = None

    def of(self, unit: Unit) -> int | None:
        value: int | None = getattr(self, unit.value)
        return value


class State(enum.StrEnum):
    """Where a reservation is in its life."""

    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Charge:
    """One operation of one service for a subject, priced item by item, in a usage month."""

    subject: str
    service: str
    operation: str
    items: list[PricedItem]
    cost_micro_usd: int
    period: str
    created_at: datetime


@dataclass(frozen=True)
class Reservation(Charge):
    """Amounts set aside for one operation of one service."""

    reservation_id: str
    state: State
    expires_at: datetime
    committed_items: list[PricedItem] | None = None


@dataclass(frozen=True)
class CostRecord(Charge):
    """One operation's spend; `late` if committed after its reservation's deadline, `overage`
    the amounts used beyond the reservation (part of `items` too)."""

    cost_record_id: int
    reservation_id: str | None
    metadata: dict[str, str]
    late: bool = False
    overage: list[PricedItem] = field(default_factory=list)


@dataclass(frozen=True)
class CostTotal:
    """Usage and cost of one service in one unit."""

    service: str
    unit: Unit
    amount: int
    cost_micro_usd: int


@dataclass(frozen=True)
class UnitUsage:
    """A subject's standing against one limit."""

    unit: Unit
    limit: int | None
    used: int
    reserved: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.used - self.reserved, 0)


@dataclass(frozen=True)
class QuotaView:
    """A subject's tier and standing in one month."""

    subject: str
    tier: str
    period: str
    usages: list[UnitUsage] = field(default_factory=list)


@dataclass(frozen=True)
class Alert:
    """A subject reached a share of a limit."""

    alert_id: int
    subject: str
    unit: Unit
    level: str
    period: str
    used: int
    limit: int
    created_at: datetime


@dataclass(frozen=True)
class RateRule:
    """max_requests calls of `method` per sliding window of window_seconds, for subjects of
    `tier` ("": every tier without rules of its own)."""

    method: str
    window_seconds: int
    max_requests: int
    tier: str = ""


@dataclass(frozen=True)
class RateWindow:
    """Standing against one rule after a check."""

    rule: RateRule
    remaining: int
