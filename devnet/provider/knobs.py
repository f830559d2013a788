"""Run-time knobs of a devnet provider: prices, latency, injected errors and outages."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OUTAGES = ("none", "unavailable", "drop", "refuse")
"""none; unavailable: 503 on every /v1 call; drop: close the connection without an answer;
refuse: stop listening (connection refused) for `outage_seconds`, then listen again."""


class KnobError(ValueError):
    """A knob update that is not acceptable; the message names the knob."""


@dataclass(frozen=True)
class Knobs:
    """How a provider behaves. Prices in neuron per token; delays in milliseconds."""

    input_price: int = 1_000_000_000
    output_price: int = 2_000_000_000
    first_token_delay_ms: int = 0
    token_delay_ms: int = 0
    error_rate: float = 0.0
    """Share of /v1/proxy calls answered with `error_status` instead of a completion."""
    error_status: int = 500
    outage: str = "none"
    outage_seconds: float = 0.0
    """How long `refuse` lasts before the provider listens again (must be > 0 for refuse)."""

    def to_json(self) -> dict[str, Any]:
        """JSON form (prices as decimal strings, like every neuron amount on the wire)."""
        data = dataclasses.asdict(self)
        data["input_price"] = str(self.input_price)
        data["output_price"] = str(self.output_price)
        return data

    def updated(self, changes: Mapping[str, Any]) -> Knobs:
        """A copy with `changes` applied; KnobError on unknown knobs or bad values."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise KnobError(f"unknown knobs: {', '.join(unknown)}")
        values = dataclasses.asdict(self)
        for name, raw in changes.items():
            values[name] = _coerce(name, raw)
        knobs = Knobs(**values)
        knobs.validate()
        return knobs

    def validate(self) -> None:
        """KnobError if a value is out of range."""
        for name in ("input_price", "output_price", "first_token_delay_ms", "token_delay_ms"):
            if getattr(self, name) < 0:
                raise KnobError(f"{name} must not be negative")
        if not 0.0 <= self.error_rate <= 1.0:
            raise KnobError("error_rate must be between 0 and 1")
        if not 400 <= self.error_status <= 599:
            raise KnobError("error_status must be an HTTP error status (400..599)")
        if self.outage not in OUTAGES:
            raise KnobError(f"outage must be one of {', '.join(OUTAGES)}")
        if self.outage == "refuse" and self.outage_seconds <= 0:
            raise KnobError("outage refuse needs outage_seconds > 0 (else nobody could undo it)")


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(Knobs)}[name]
    try:
        if kind == "int":
            # Prices may exceed 2^53: accept decimal strings, refuse floats.
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise TypeError
            return int(raw)
        if kind == "float":
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise TypeError
            return float(raw)
        if not isinstance(raw, str):
            raise TypeError
        return raw
    except (TypeError, ValueError):
        raise KnobError(f"{name}: expected {kind}, got {raw!r}") from None
