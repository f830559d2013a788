"""Retry policy, deadlines and the per-provider circuit breaker, on clocks the tests move."""

from __future__ import annotations

import pytest
from aiobreaker import CircuitBreakerError

from services.inference.breaker import Breakers, BreakerSettings
from services.inference.errors import ProviderError
from services.inference.retry import Deadline, RetryPolicy, is_retryable_status


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retryable(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 422])
def test_client_errors_are_never_retried(status: int) -> None:
    assert not is_retryable_status(status)
    error = ProviderError(f"http_{status}", "no", status=status, retryable=False)
    assert not RetryPolicy().should_retry(error, attempt=1)


def test_three_attempts_then_stop() -> None:
    policy = RetryPolicy()
    error = ProviderError("timeout", "slow", retryable=True)
    assert [policy.should_retry(error, n) for n in (1, 2, 3)] == [True, True, False]


def test_backoff_doubles_from_one_second_with_jitter_and_caps_at_thirty() -> None:
    low = RetryPolicy(jitter=lambda: 0.0)
    high = RetryPolicy(jitter=lambda: 1.0)
    assert [low.backoff(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [high.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert high.backoff(10) == 30.0 and low.backoff(10) == 15.0


def test_deadline_bounds_timeouts_and_refuses_sleeps_past_it() -> None:
    clock = FakeClock()
    deadline = Deadline.after(clock, 5.0)
    assert deadline.bound(30.0) == 5.0
    assert deadline.allows(4.0) and not deadline.allows(5.0)
    clock.now += 4.5
    assert deadline.remaining() == pytest.approx(0.5)
    assert not deadline.allows(1.0)
    clock.now += 10
    assert deadline.remaining() == 0.0
    unbounded = Deadline.after(clock, None)
    assert unbounded.allows(1e9) and unbounded.bound(7.0) == 7.0


async def _fail() -> None:
    raise ProviderError("http_503", "down", status=503, retryable=True)


async def _ok() -> str:
    return "ok"


async def _refuse() -> None:
    raise ProviderError("http_400", "bad", status=400, retryable=False)


async def _call(breakers: Breakers, provider: str, fn) -> object:
    return await breakers.of(provider).call_async(fn)


async def test_breaker_opens_on_the_fifth_consecutive_failure_after_a_good_run() -> None:
    breakers = Breakers(BreakerSettings(), FakeClock())
    for _ in range(6):
        await _call(breakers, "0xA", _ok)
    for _ in range(4):
        with pytest.raises(ProviderError):
            await _call(breakers, "0xA", _fail)
    # 4 of the last 10 failed: under the 0.6 ratio, under 5 in a row.
    assert breakers.state("0xa") == "closed"
    with pytest.raises(CircuitBreakerError):
        await _call(breakers, "0xA", _fail)
    assert breakers.state("0xa") == "open"


async def test_breaker_opens_on_a_failure_ratio_over_three_calls() -> None:
    breakers = Breakers(BreakerSettings(), FakeClock())
    with pytest.raises(ProviderError):
        await _call(breakers, "0xB", _fail)
    await _call(breakers, "0xB", _ok)
    assert breakers.state("0xB") == "closed"
    with pytest.raises(ProviderError):
        await _call(breakers, "0xB", _fail)
    # 2 failures in 3 calls = 0.67 >= 0.6.
    assert breakers.state("0xB") == "open"


async def test_refusals_do_not_count_against_a_provider() -> None:
    breakers = Breakers(BreakerSettings(), FakeClock())
    for _ in range(10):
        with pytest.raises(ProviderError):
            await _call(breakers, "0xC", _refuse)
    assert breakers.state("0xC") == "closed"


async def test_after_the_cool_down_one_probe_closes_the_breaker() -> None:
    clock = FakeClock()
    breakers = Breakers(BreakerSettings(cool_down_seconds=30), clock)
    for _ in range(3):
        with pytest.raises((ProviderError, CircuitBreakerError)):
            await _call(breakers, "0xD", _fail)
    assert breakers.state("0xD") == "open"
    clock.now += 29
    with pytest.raises(CircuitBreakerError):
        await _call(breakers, "0xD", _ok)
    clock.now += 2
    assert breakers.state("0xD") == "half-open"
    assert await _call(breakers, "0xD", _ok) == "ok"
    assert breakers.state("0xD") == "closed"


async def test_a_failed_probe_opens_it_again_for_another_cool_down() -> None:
    clock = FakeClock()
    breakers = Breakers(BreakerSettings(cool_down_seconds=30), clock)
    for _ in range(3):
        with pytest.raises((ProviderError, CircuitBreakerError)):
            await _call(breakers, "0xE", _fail)
    clock.now += 31
    with pytest.raises(CircuitBreakerError):
        await _call(breakers, "0xE", _fail)
    assert breakers.state("0xE") == "open"
    clock.now += 31
    assert await _call(breakers, "0xE", _ok) == "ok"
