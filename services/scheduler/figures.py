"""Deterministic portfolio figures (integers, micro-dollars and basis points) and their text."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from services.scheduler.model import Position, Snapshot


def _micro(quantity: str, price_micro_usd: int) -> int:
    return int((Decimal(quantity) * price_micro_usd).to_integral_value(ROUND_HALF_EVEN))


def bps(change: int, base: int) -> int:
    """`change` relative to `base` in basis points, rounded half to even; 0 for a zero base."""
    if base == 0:
        return 0
    return int((Decimal(change) * 10000 / Decimal(base)).to_integral_value(ROUND_HALF_EVEN))


@dataclass(frozen=True)
class Mover:
    """One position's change."""

    symbol: str
    change_micro_usd: int
    change_bps: int


@dataclass(frozen=True)
class Figures:
    """What every notification states: value, change and the biggest movers."""

    value_micro_usd: int
    change_micro_usd: int
    change_bps: int
    movers: tuple[Mover, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "value_micro_usd": self.value_micro_usd,
            "change_micro_usd": self.change_micro_usd,
            "change_bps": self.change_bps,
            "top_movers": [
                {
                    "symbol": m.symbol,
                    "change_micro_usd": m.change_micro_usd,
                    "change_bps": m.change_bps,
                }
                for m in self.movers
            ],
        }


def _top(movers: list[Mover], count: int) -> tuple[Mover, ...]:
    # Biggest absolute move first; the symbol breaks ties so the order never depends on input.
    return tuple(sorted(movers, key=lambda m: (-abs(m.change_micro_usd), m.symbol))[:count])


def value_of(snapshot: Snapshot) -> int:
    """Positions at their prices plus cash."""
    return snapshot.cash_micro_usd + sum(
        _micro(p.quantity, p.price_micro_usd) for p in snapshot.positions
    )


def day_figures(snapshot: Snapshot, top: int = 3) -> Figures:
    """Value now and the change since the previous close, overall and per position."""
    value = value_of(snapshot)
    previous = snapshot.cash_micro_usd
    movers = []
    for p in snapshot.positions:
        now, before = (
            _micro(p.quantity, p.price_micro_usd),
            _micro(p.quantity, p.previous_close_micro_usd),
        )
        previous += before
        movers.append(Mover(p.symbol, now - before, bps(now - before, before)))
    return Figures(value, value - previous, bps(value - previous, previous), _top(movers, top))


def week_figures(now: Snapshot, then: Snapshot | None, top: int = 3) -> Figures:
    """Value now and the change since an earlier snapshot (a week ago), per symbol too."""
    if then is None:
        return day_figures(now, top)
    value, before = value_of(now), value_of(then)
    earlier: dict[str, Position] = {p.symbol: p for p in then.positions}
    movers = []
    for p in now.positions:
        old = earlier.get(p.symbol)
        old_value = _micro(old.quantity, old.price_micro_usd) if old else 0
        change = _micro(p.quantity, p.price_micro_usd) - old_value
        movers.append(Mover(p.symbol, change, bps(change, old_value)))
    return Figures(value, value - before, bps(value - before, before), _top(movers, top))


def usd(micro: int, signed: bool = False) -> str:
    """Micro-dollars as dollars and cents: 1234567890 -> '$1,234.57'; signed adds '+'."""
    cents = int((Decimal(abs(micro)) / 10000).to_integral_value(ROUND_HALF_EVEN))
    text = f"${cents // 100:,}.{cents % 100:02d}"
    if micro < 0 and cents:
        return f"-{text}"
    return f"+{text}" if signed else text


def pct(basis_points: int) -> str:
    """Basis points as a signed percentage: 123 -> '+1.23%'."""
    sign = "-" if basis_points < 0 else "+"
    return f"{sign}{abs(basis_points) // 100}.{abs(basis_points) % 100:02d}%"


def describe(figures: Figures, period: str) -> list[str]:
    """The figures as lines of text, identical with or without the model."""
    lines = [
        f"Portfolio value: {usd(figures.value_micro_usd)}",
        f"{period}: {usd(figures.change_micro_usd, signed=True)} ({pct(figures.change_bps)})",
    ]
    if figures.movers:
        movers = ", ".join(
            f"{m.symbol} {usd(m.change_micro_usd, signed=True)} ({pct(m.change_bps)})"
            for m in figures.movers
        )
        lines.append(f"Top movers: {movers}")
    return lines
