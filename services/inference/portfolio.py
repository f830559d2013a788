"""Deterministic portfolio metrics in exact decimal arithmetic (money in integer micro-dollars)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from zerog_grpc import Problems

# 40 significant digits: far beyond what 6-place results need, so rounding happens only once.
_CTX = Context(prec=40, rounding=ROUND_HALF_EVEN)
_PLACES = Decimal("0.000001")
DAYS_PER_YEAR = 365  # crypto trades every day


class PortfolioInputError(ValueError):
    """The positions or prices cannot be analysed; `problems` maps field paths to reasons."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = dict(problems)


@dataclass(frozen=True)
class Holding:
    """A position: symbol, quantity and what it cost in micro-dollars."""

    symbol: str
    quantity: Decimal
    cost_micro_usd: int


@dataclass(frozen=True)
class PositionFigures:
    """One position's computed figures (ratios as 6-place strings, "" when undefined)."""

    symbol: str
    value_micro_usd: int
    pnl_micro_usd: int
    total_return: str
    day_return: str
    weight: str


@dataclass(frozen=True)
class PortfolioFigures:
    """The whole portfolio's computed figures."""

    total_value_micro_usd: int
    total_cost_micro_usd: int
    total_pnl_micro_usd: int
    total_return: str
    day_return: str
    volatility: str
    sharpe_ratio: str
    max_drawdown: str
    diversification_score: str
    positions: list[PositionFigures]


def fmt(value: Decimal | None) -> str:
    """A ratio as a 6-place decimal string, rounded half-even; "" for undefined."""
    return "" if value is None else str(value.quantize(_PLACES, context=_CTX))


def parse_quantity(raw: str) -> Decimal:
    """A positive finite decimal quantity, or ValueError."""
    try:
        quantity = Decimal(raw)
    except InvalidOperation:
        raise ValueError("must be a decimal number") from None
    if not quantity.is_finite() or quantity <= 0:
        raise ValueError("must be a positive number")
    return quantity


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else _CTX.divide(numerator, denominator)


def _returns(series: Sequence[Decimal]) -> list[Decimal]:
    return [_CTX.divide(b, a) - 1 for a, b in itertools.pairwise(series) if a != 0]


def _day_return(closes: Sequence[int]) -> Decimal | None:
    return _CTX.divide(closes[-1], closes[-2]) - 1 if len(closes) >= 2 else None


def _max_drawdown(series: Sequence[Decimal]) -> Decimal:
    peak, worst = series[0], Decimal(0)
    for value in series:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, _CTX.divide(peak - value, peak))
    return worst


def validate(holdings: Sequence[Holding], prices: Mapping[str, Sequence[int]]) -> None:
    """Raise PortfolioInputError naming every problem at once."""
    problems = Problems()
    if not holdings:
        problems["positions"] = "at least one position is required"
    seen: set[str] = set()
    lengths = {len(series) for series in prices.values()}
    for i, h in enumerate(holdings):
        if not h.symbol:
            problems[f"positions[{i}].symbol"] = "required"
        elif h.symbol in seen:
            problems[f"positions[{i}].symbol"] = f"{h.symbol} appears twice"
        seen.add(h.symbol)
        if h.cost_micro_usd < 0:
            problems[f"positions[{i}].cost_basis_micro_usd"] = "must not be negative"
        series = prices.get(h.symbol)
        if not series:
            problems[f"positions[{i}].symbol"] = f"no price history for {h.symbol}"
        elif any(p <= 0 for p in series):
            problems[f"price_history.{h.symbol}"] = "prices must be positive"
    if len(lengths) > 1:
        problems["price_history"] = "every series must have the same length"
    if problems:
        raise PortfolioInputError(problems)


def compute(
    holdings: Sequence[Holding],
    prices: Mapping[str, Sequence[int]],
    risk_free_rate: Decimal = Decimal(0),
) -> PortfolioFigures:
    """Value, P&L, returns, volatility, Sharpe, drawdown and diversification of `holdings`."""
    validate(holdings, prices)
    days = len(prices[holdings[0].symbol])
    values = [
        int((h.quantity * prices[h.symbol][-1]).quantize(Decimal(1), context=_CTX))
        for h in holdings
    ]
    total_value = sum(values)
    total_cost = sum(h.cost_micro_usd for h in holdings)
    # Portfolio value each day at today's quantities (no cash flows are known).
    series = [
        sum((h.quantity * prices[h.symbol][t] for h in holdings), Decimal(0)) for t in range(days)
    ]
    returns = _returns(series)
    volatility = sharpe = None
    if len(returns) >= 2:
        mean = _CTX.divide(sum(returns, Decimal(0)), len(returns))
        variance = _CTX.divide(
            sum(((r - mean) ** 2 for r in returns), Decimal(0)), len(returns) - 1
        )
        std = variance.sqrt(_CTX)
        annual = Decimal(DAYS_PER_YEAR).sqrt(_CTX)
        volatility = std * annual
        if std != 0:
            excess = mean - _CTX.divide(risk_free_rate, DAYS_PER_YEAR)
            sharpe = _CTX.divide(excess, std) * annual
    weights = [_ratio(Decimal(v), Decimal(total_value)) for v in values]
    diversification = (
        None if total_value == 0 else 1 - sum((w * w for w in weights if w is not None), Decimal(0))
    )
    positions = [
        PositionFigures(
            symbol=h.symbol,
            value_micro_usd=value,
            pnl_micro_usd=value - h.cost_micro_usd,
            total_return=fmt(_ratio(Decimal(value - h.cost_micro_usd), Decimal(h.cost_micro_usd))),
            day_return=fmt(_day_return(prices[h.symbol])),
            weight=fmt(weight),
        )
        for h, value, weight in zip(holdings, values, weights, strict=True)
    ]
    return PortfolioFigures(
        total_value_micro_usd=total_value,
        total_cost_micro_usd=total_cost,
        total_pnl_micro_usd=total_value - total_cost,
        total_return=fmt(_ratio(Decimal(total_value - total_cost), Decimal(total_cost))),
        day_return=fmt(returns[-1] if days >= 2 and returns else None),
        volatility=fmt(volatility),
        sharpe_ratio=fmt(sharpe),
        max_drawdown=fmt(_max_drawdown(series)),
        diversification_score=fmt(diversification),
        positions=positions,
    )
