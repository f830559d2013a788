"""Provider choice: filters, the cost / latency / reliability strategies and observed stats."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Strategy(Enum):
    """How candidates are ranked (mirrors RoutingStrategy in the proto)."""

    COST = "cost"
    LATENCY = "latency"
    RELIABILITY = "reliability"


@dataclass(frozen=True)
class Provider:
    """One provider's service as the broker discovered it (prices in neuron per token)."""

    address: str
    url: str
    model: str
    input_price: int
    output_price: int
    verifiable: bool = False
    official: bool = False


@dataclass(frozen=True)
class Filters:
    """Which providers may be candidates at all."""

    model: str = ""
    official_only: bool = False
    verifiable_only: bool = False
    provider: str = ""

    def admit(self, provider: Provider) -> bool:
        return (
            (not self.model or provider.model == self.model)
            and (not self.official_only or provider.official)
            and (not self.verifiable_only or provider.verifiable)
            and (not self.provider or provider.address.lower() == self.provider.lower())
        )


@dataclass
class _Record:
    latency_ms: float | None = None
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=20))


class ProviderStats:
    """Moving-average latency and recent success rate per provider, as observed by this replica."""

    def __init__(self, alpha: float = 0.3, window: int = 20) -> None:
        self._alpha = alpha
        self._window = window
        self._records: dict[str, _Record] = {}

    def _record(self, provider: str) -> _Record:
        return self._records.setdefault(
            provider.lower(), _Record(outcomes=deque(maxlen=self._window))
        )

    def observe(self, provider: str, *, ok: bool, latency_ms: float | None) -> None:
        """Count one call; only successful calls feed the latency average."""
        record = self._record(provider)
        record.outcomes.append(ok)
        if ok and latency_ms is not None:
            previous = record.latency_ms
            record.latency_ms = (
                latency_ms
                if previous is None
                else self._alpha * latency_ms + (1 - self._alpha) * previous
            )

    def latency_ms(self, provider: str) -> float | None:
        """The moving average, or None before the first successful call."""
        return self._record(provider).latency_ms

    def success_rate(self, provider: str) -> float:
        """The share of recent calls that succeeded; 1.0 before the first call."""
        outcomes = self._record(provider).outcomes
        return sum(outcomes) / len(outcomes) if outcomes else 1.0


def estimated_fee(provider: Provider, prompt_tokens: int, completion_tokens: int) -> int:
    """The neuron a call of this size would cost at this provider."""
    return prompt_tokens * provider.input_price + completion_tokens * provider.output_price


def rank(
    providers: Iterable[Provider],
    strategy: Strategy,
    stats: ProviderStats,
    *,
    prompt_tokens: int = 1,
    completion_tokens: int = 1,
) -> tuple[list[Provider], str]:
    """Candidates best first, and a sentence saying why the first one leads."""
    candidates = list(providers)

    def fee(p: Provider) -> int:
        return estimated_fee(p, prompt_tokens, completion_tokens)

    if strategy is Strategy.COST:
        ordered = sorted(candidates, key=lambda p: (fee(p), p.address.lower()))
        why = "cheapest"
    elif strategy is Strategy.LATENCY:
        # Untried providers go first: without a sample their latency is unknown, not slow.
        def by_latency(p: Provider) -> tuple[bool, float, int, str]:
            latency = stats.latency_ms(p.address)
            return (latency is not None, latency or 0.0, fee(p), p.address.lower())

        ordered = sorted(candidates, key=by_latency)
        why = "lowest average latency"
    else:
        ordered = sorted(
            candidates,
            key=lambda p: (
                -stats.success_rate(p.address),
                stats.latency_ms(p.address) or 0.0,
                fee(p),
                p.address.lower(),
            ),
        )
        why = "highest recent success rate"
    if not ordered:
        return [], "no candidates"
    return ordered, f"{why} of {len(ordered)} candidate(s) ({strategy.value} strategy)"
