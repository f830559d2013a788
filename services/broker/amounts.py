"""Neuron amounts as canonical decimal strings (the proto's convention) and A0GI display."""

from __future__ import annotations

import re

from zerog_signing import format_og

A0GI = 10**18
_CANONICAL = re.compile(r"0|[1-9][0-9]{0,77}")
MAX_UINT256 = (1 << 256) - 1


def parse_neuron(text: str) -> int | None:
    """The amount a canonical decimal string holds, or None if it is not one."""
    if not _CANONICAL.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_UINT256 else None


def a0gi(neuron: int) -> str:
    """Canonical decimal A0GI: 1500000000000000000 -> "1.5"."""
    return format_og(neuron) if neuron >= 0 else "-" + format_og(-neuron)
