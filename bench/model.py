"""Result model: a measurement of one implementation and a row setting ours beside a peer."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def number(value: float) -> str:
    """A figure for the table: no more digits than the noise of this machine allows."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _short(value: float, bar: float) -> str:
    return f"{100 * (1 - value / bar):.0f}% short"


@dataclass(frozen=True)
class Limit:
    """An absolute bar of PRODUCT.md section 9, e.g. added p50 < 2 ms or >= 150/s per core.

    `at_most`: the value must stay under `bar` (a latency); else reach it (a rate)."""

    what: str
    value: float
    bar: float
    unit: str
    at_most: bool = True

    def _amount(self, figure: str) -> str:
        return f"{figure}{'' if self.unit.startswith('/') else ' '}{self.unit}"

    @property
    def met(self) -> bool:
        return self.value < self.bar if self.at_most else self.value >= self.bar

    @property
    def wanted(self) -> str:
        """The bar itself, e.g. 'p50 < 2 ms'."""
        return f"{self.what} {'<' if self.at_most else '>='} {self._amount(f'{self.bar:g}')}"

    @property
    def shortfall(self) -> str:
        """By how much it is missed, e.g. 'p50 26.1 ms of < 2 ms, 13x over'."""
        got = f"{self.what} {self._amount(number(self.value))}"
        if self.at_most:
            times = self.value / self.bar
            over = f"{times:.0f}x" if times >= 10 else f"{times:.1f}x"
            return f"{got} of < {self._amount(f'{self.bar:g}')}, {over} over"
        return f"{got} of >= {self._amount(f'{self.bar:g}')}, {_short(self.value, self.bar)}"


def missed(shortfalls: Sequence[str]) -> str:
    """'met' when nothing falls short, else 'missed (what, by how much; ...)': one wording."""
    return f"missed ({'; '.join(shortfalls)})" if shortfalls else "met"


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Measurement:
    """One implementation's result: median and p99 in the row's unit, over `samples` runs.

    For a rate (higher is better) p99 is the rate of the 99th-percentile slowest sample,
    i.e. the slow tail; for a latency it is the usual 99th percentile.
    """

    label: str
    median: float
    p99: float
    samples: int

    @classmethod
    def of_rates(cls, label: str, rates: Sequence[float]) -> Measurement:
        """From per-batch rates: the tail is the low end."""
        return cls(label, statistics.median(rates), percentile(rates, 1), len(rates))

    @classmethod
    def of_latencies(cls, label: str, latencies: Sequence[float]) -> Measurement:
        """From per-call latencies: the tail is the high end."""
        return cls(label, statistics.median(latencies), percentile(latencies, 99), len(latencies))


@dataclass(frozen=True)
class Row:
    """One line of docs/benchmarks.md: ours beside the peer, with the bar when there is one."""

    name: str
    unit: str
    ours: Measurement | None
    peer: Measurement | None = None
    higher_is_better: bool = True
    bar: float | None = None  # the ratio ours/peer that PRODUCT.md asks for
    limits: tuple[Limit, ...] = ()  # absolute bars (latency, rate per core) instead of a ratio
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """How many times better ours is than the peer (medians), or None without both."""
        if self.ours is None or self.peer is None or not self.peer.median or not self.ours.median:
            return None
        if self.higher_is_better:
            return self.ours.median / self.peer.median
        return self.peer.median / self.ours.median

    @property
    def verdict(self) -> str:
        """'met', 'missed (by how much)' or '' when there is no bar to compare against."""
        if self.limits:
            return missed([limit.shortfall for limit in self.limits if not limit.met])
        ratio = self.ratio
        if self.bar is None or ratio is None:
            return ""
        if ratio >= self.bar:
            return "met"
        return missed([f"{ratio:.1f}x of {self.bar:g}x, {_short(ratio, self.bar)}"])

    @property
    def bar_text(self) -> str:
        """The bar column: what is asked and whether it is met, or '—'."""
        if self.limits:
            return f"{', '.join(limit.wanted for limit in self.limits)}: {self.verdict}"
        if self.bar is None:
            return "—"
        return f">= {self.bar:g}x: {self.verdict or 'n/a'}"
