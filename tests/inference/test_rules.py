"""Routing strategies and filters, session compression and staleness, local token counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.inference.routing import Filters, Provider, ProviderStats, Strategy, rank
from services.inference.sessions import StoredMessage, is_stale, plan_compression
from services.inference.tokens import count_messages, count_text

CHEAP = Provider("0xC", "http://c", "m", input_price=1, output_price=2)
FAST = Provider("0xF", "http://f", "m", input_price=5, output_price=5, official=True)
STEADY = Provider("0xS", "http://s", "m", input_price=3, output_price=3, verifiable=True)
OTHER_MODEL = Provider("0xO", "http://o", "other", input_price=0, output_price=0)


def _stats() -> ProviderStats:
    stats = ProviderStats()
    stats.observe("0xC", ok=True, latency_ms=900)
    stats.observe("0xC", ok=False, latency_ms=None)
    stats.observe("0xF", ok=True, latency_ms=50)
    stats.observe("0xF", ok=False, latency_ms=None)
    stats.observe("0xS", ok=True, latency_ms=400)
    stats.observe("0xS", ok=True, latency_ms=400)
    return stats


def test_each_strategy_puts_its_provider_first() -> None:
    stats = _stats()
    everyone = [FAST, STEADY, CHEAP]
    assert rank(everyone, Strategy.COST, stats)[0][0] == CHEAP
    assert rank(everyone, Strategy.LATENCY, stats)[0][0] == FAST
    assert rank(everyone, Strategy.RELIABILITY, stats)[0][0] == STEADY
    ordered, reason = rank(everyone, Strategy.COST, stats)
    assert [p.address for p in ordered] == ["0xC", "0xS", "0xF"]
    assert reason == "cheapest of 3 candidate(s) (cost strategy)"


def test_cost_weighs_prompt_and_completion_tokens() -> None:
    cheap_input = Provider("0x1", "u", "m", input_price=1, output_price=100)
    cheap_output = Provider("0x2", "u", "m", input_price=10, output_price=1)
    stats = ProviderStats()
    assert (
        rank(
            [cheap_input, cheap_output],
            Strategy.COST,
            stats,
            prompt_tokens=1000,
            completion_tokens=10,
        )[0][0]
        == cheap_input
    )
    assert (
        rank(
            [cheap_input, cheap_output],
            Strategy.COST,
            stats,
            prompt_tokens=10,
            completion_tokens=1000,
        )[0][0]
        == cheap_output
    )


def test_latency_tries_unmeasured_providers_first_and_averages_moves() -> None:
    stats = ProviderStats(alpha=0.5)
    stats.observe("0xF", ok=True, latency_ms=100)
    assert rank([FAST, CHEAP], Strategy.LATENCY, stats)[0][0] == CHEAP
    stats.observe("0xC", ok=True, latency_ms=80)
    assert rank([FAST, CHEAP], Strategy.LATENCY, stats)[0][0] == CHEAP
    stats.observe("0xC", ok=True, latency_ms=200)  # average 140
    assert stats.latency_ms("0xC") == 140
    assert rank([FAST, CHEAP], Strategy.LATENCY, stats)[0][0] == FAST


def test_success_rate_is_recent_and_optimistic_for_new_providers() -> None:
    stats = ProviderStats(window=4)
    assert stats.success_rate("0xnew") == 1.0
    for ok in (False, False, True, True, True, True):
        stats.observe("0xA", ok=ok, latency_ms=1)
    assert stats.success_rate("0xA") == 1.0


def test_filters() -> None:
    everyone = [CHEAP, FAST, STEADY, OTHER_MODEL]
    assert [p for p in everyone if Filters(model="m", official_only=True).admit(p)] == [FAST]
    assert [p for p in everyone if Filters(verifiable_only=True).admit(p)] == [STEADY]
    assert [p for p in everyone if Filters(model="m").admit(p)] == [CHEAP, FAST, STEADY]
    assert [p for p in everyone if Filters(provider="0xc").admit(p)] == [CHEAP]


def _conversation(n: int, *, system: bool = True) -> list[StoredMessage]:
    messages = [StoredMessage(0, "system", "be brief")] if system else []
    for i in range(1, n + 1):
        messages.append(StoredMessage(i, "user" if i % 2 else "assistant", f"message {i}"))
    return messages


def test_twenty_messages_are_kept_as_they_are() -> None:
    assert plan_compression(_conversation(19)) is None  # 20 with the system message
    assert plan_compression(_conversation(20, system=False)) is None


def test_twenty_five_messages_become_system_summary_and_last_ten() -> None:
    messages = _conversation(24)  # 25 with the system message
    plan = plan_compression(messages)
    assert plan is not None
    assert [m.message_id for m in plan.system] == [0]
    assert [m.message_id for m in plan.summarise] == list(range(1, 15))
    assert [m.message_id for m in plan.keep] == list(range(15, 25))


def test_an_earlier_summary_is_summarised_again() -> None:
    messages = [
        StoredMessage(0, "system", "s"),
        StoredMessage(30, "system", "old summary", summary=True),
    ]
    messages += _conversation(20, system=False)
    plan = plan_compression(messages)
    assert plan is not None
    assert plan.summarise[0].summary and len(plan.summarise) == 11
    assert [m.message_id for m in plan.system] == [0]


def test_context_goes_stale_after_fifteen_minutes() -> None:
    set_at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert not is_stale(set_at, set_at + timedelta(minutes=15))
    assert is_stale(set_at, set_at + timedelta(minutes=15, seconds=1))
    assert not is_stale(None, set_at + timedelta(days=1))


def test_local_token_counts() -> None:
    assert count_text("Hello, world!") == 6  # Hel-lo , wor-ld !
    assert count_text("internationalization") == 5  # 20 characters, 4 per token
    assert count_text("") == 0
    assert count_messages(["Hello, world!", "hi"]) == 6 + 4 + 1 + 4
