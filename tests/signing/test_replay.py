"""ReplayGuard with the memory store and with PostgresNonceStore on a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from zerog_signing import (
    FutureTimestamp,
    MemoryNonceStore,
    PostgresNonceStore,
    Rejection,
    ReplayedNonce,
    ReplayGuard,
    StaleTimestamp,
    ms_to_datetime,
    nonce_table_ddl,
)

T0 = 1_700_000_000_000
MINUTE = 60_000
ALICE = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
BOB = "0xf07240Efa67755B5311bc75784a061eDB47165Dd"


class FakeClock:
    """A clock the test moves by hand; returns epoch ms or a datetime."""

    def __init__(self, ms: int = T0, *, as_datetime: bool = False) -> None:
        self.ms = ms
        self.as_datetime = as_datetime

    def __call__(self) -> datetime | int:
        return ms_to_datetime(self.ms) if self.as_datetime else self.ms


async def test_a_nonce_is_used_once_per_address() -> None:
    guard = ReplayGuard(MemoryNonceStore(), clock=FakeClock())
    await guard.consume(ALICE, "n1", T0)
    await guard.consume(BOB, "n1", T0)  # another address may use the same nonce
    await guard.consume(ALICE, "n2", T0)

    with pytest.raises(ReplayedNonce) as raised:
        await guard.consume(ALICE.lower(), "n1", T0 + 1)
    assert raised.value.reason is Rejection.REPLAYED_NONCE


@pytest.mark.parametrize("as_datetime", [False, True])
async def test_timestamp_window_is_five_minutes_both_ways(as_datetime: bool) -> None:
    guard = ReplayGuard(MemoryNonceStore(), clock=FakeClock(as_datetime=as_datetime))
    await guard.consume(ALICE, "edge-past", T0 - 5 * MINUTE)
    await guard.consume(ALICE, "edge-future", T0 + 5 * MINUTE)

    with pytest.raises(StaleTimestamp) as stale:
        await guard.consume(ALICE, "old", T0 - 5 * MINUTE - 1)
    assert stale.value.reason is Rejection.STALE_TIMESTAMP
    with pytest.raises(FutureTimestamp) as future:
        await guard.consume(ALICE, "new", T0 + 5 * MINUTE + 1)
    assert future.value.reason is Rejection.FUTURE_TIMESTAMP


async def test_refused_timestamps_do_not_use_up_the_nonce() -> None:
    clock = FakeClock()
    guard = ReplayGuard(MemoryNonceStore(), clock=clock)
    with pytest.raises(FutureTimestamp):
        await guard.consume(ALICE, "n", T0 + 10 * MINUTE)
    clock.ms = T0 + 10 * MINUTE
    await guard.consume(ALICE, "n", T0 + 10 * MINUTE)


async def test_window_is_configurable_and_naive_clocks_are_refused() -> None:
    guard = ReplayGuard(MemoryNonceStore(), window=timedelta(seconds=1), clock=FakeClock())
    assert guard.window == timedelta(seconds=1)
    with pytest.raises(StaleTimestamp):
        guard.check_timestamp(T0 - 1001)
    naive = ReplayGuard(MemoryNonceStore(), clock=lambda: datetime(2023, 11, 14))
    with pytest.raises(ValueError, match="naive"):
        naive.check_timestamp(T0)
    with pytest.raises(ValueError):
        ReplayGuard(MemoryNonceStore(), window=timedelta(0))


async def test_prune_forgets_only_nonces_outside_the_window() -> None:
    clock = FakeClock()
    store = MemoryNonceStore()
    guard = ReplayGuard(store, clock=clock)
    await guard.consume(ALICE, "early", T0 - 4 * MINUTE)
    await guard.consume(ALICE, "late", T0 + 4 * MINUTE)
    clock.ms = T0 + 2 * MINUTE  # "early" is now 6 minutes old: stale anyway

    assert await guard.prune() == 1
    assert len(store) == 1
    with pytest.raises(ReplayedNonce):
        await guard.consume(ALICE, "late", T0 + 4 * MINUTE)


def test_ddl_is_schema_qualified_and_validated() -> None:
    ddl = nonce_table_ddl("broker")
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS broker.signing_nonces (")
    assert "PRIMARY KEY (address, nonce)" in ddl
    for bad in ("Broker", "broker; DROP TABLE x", "", "a.b"):
        with pytest.raises(ValueError):
            nonce_table_ddl(bad)
    with pytest.raises(ValueError):
        PostgresNonceStore(None, table="signing_nonces")  # type: ignore[arg-type]


async def test_postgres_store(fresh_db_url: str) -> None:
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=8)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE SCHEMA broker")
            await conn.execute(nonce_table_ddl("broker"))
            await conn.execute(nonce_table_ddl("broker"))  # IF NOT EXISTS: re-runnable
        store = PostgresNonceStore(pool, table="broker.signing_nonces")
        clock = FakeClock()
        guard = ReplayGuard(store, clock=clock)

        await guard.consume(ALICE, "n1", T0)
        await guard.consume(BOB, "n1", T0)
        with pytest.raises(ReplayedNonce):
            await guard.consume(ALICE, "n1", T0)

        # Replicas racing on one nonce: exactly one wins.
        outcomes = await asyncio.gather(
            *(guard.consume(ALICE, "race", T0) for _ in range(20)), return_exceptions=True
        )
        assert sum(o is None for o in outcomes) == 1
        assert all(isinstance(o, ReplayedNonce) for o in outcomes if o is not None)

        row = await pool.fetchrow(
            "SELECT address, signed_at, seen_at FROM broker.signing_nonces WHERE nonce = 'race'"
        )
        assert row is not None
        assert row["address"] == ALICE.lower()
        assert row["signed_at"] == datetime.fromtimestamp(T0 / 1000, tz=UTC)

        await guard.consume(ALICE, "later", T0 + 4 * MINUTE)
        clock.ms = T0 + 6 * MINUTE
        assert await guard.prune() == 3  # n1 (Alice), n1 (Bob), race; not "later"
        remaining = await pool.fetch("SELECT nonce FROM broker.signing_nonces")
        assert [r["nonce"] for r in remaining] == ["later"]
    finally:
        await pool.close()
