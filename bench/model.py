"""Result model: a measurement of one implementation and a row setting ours beside a peer."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


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
        """'met', 'missed by N%' or '' when there is no bar to compare against."""
        ratio = self.ratio
        if self.bar is None or ratio is None:
            return ""
        if ratio >= self.bar:
            return "met"
        return f"missed ({ratio:.1f}x of {self.bar:g}x, {100 * (1 - ratio / self.bar):.0f}% short)"
