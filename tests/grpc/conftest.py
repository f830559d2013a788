"""The services' own fixtures, so tests here can start any of them (one test per service in
test_idempotency_concurrent.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.broker.conftest import *  # noqa: F403  (fixtures)
from tests.inference.conftest import *  # noqa: F403  (fixtures)
from tests.quota.conftest import *  # noqa: F403  (fixtures)
from tests.scheduler.conftest import *  # noqa: F403  (fixtures)
from tests.storage.conftest import *  # noqa: F403  (fixtures)
from tests.support import ManualClock


@pytest.fixture(name="clock")
def friday_clock() -> ManualClock:
    """Quota's and the scheduler's servers both take `clock`; the scheduler's jobs want a
    Friday (as in tests/scheduler), which quota does not mind."""
    return ManualClock(datetime(2026, 3, 6, 0, 0, tzinfo=UTC))
