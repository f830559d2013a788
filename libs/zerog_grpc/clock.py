"""The one clock every service reads, so tests can move time by passing another.

`Clock` tells wall time (aware UTC datetimes: leases, expiries, schedules, stored times);
`Monotonic` measures intervals (seconds that never jump: breakers, retries, deadlines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
Monotonic = Callable[[], float]


def utc_now() -> datetime:
    """The wall clock: now, as an aware UTC datetime."""
    return datetime.now(UTC)


monotonic: Monotonic = time.monotonic
