"""JavaScript's Number.prototype.toString(36) for Math.random() values, as V8 prints them.

The 0G SDK derives a session-token nonce from `Math.random().toString(36)`; reproducing the
SDK's vectors byte for byte needs V8's exact digits, which come from its shortest-digits
radix algorithm (DoubleToRadixCString), re-implemented here for 0 <= value < 1.
"""

from __future__ import annotations

import math

__all__ = ["js_fraction_to_base36"]

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_RADIX = 36
_MIN_DELTA = math.ulp(0.0)


def js_fraction_to_base36(value: float) -> str:
    """What `value.toString(36)` returns in V8, for a float in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ValueError("value must be in [0, 1), as Math.random() returns")
    fraction = value
    # Digits stop once they exceed the double's precision: half the gap to the next double.
    delta = max(0.5 * (math.nextafter(value, math.inf) - value), _MIN_DELTA)
    digits: list[str] = []
    integer = 0
    if fraction >= delta:
        while True:
            fraction *= 36.0
            delta *= 36.0
            digit = int(fraction)
            digits.append(_DIGITS[digit])
            fraction -= digit
            # Round half to even, then propagate the carry through already written digits.
            if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
                while digits:
                    last = _DIGITS.index(digits.pop())
                    if last + 1 < _RADIX:
                        digits.append(_DIGITS[last + 1])
                        break
                else:
                    integer += 1
                break
            if fraction < delta:
                break
    if digits:
        return f"{integer}.{''.join(digits)}"
    return str(integer)
