"""The idempotency primitive against a real PostgreSQL: run once, replay, refuse, take over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from google.protobuf.wrappers_pb2 import StringValue

from zerog_db import Once, Request, RequestIdReused, RequestInProgress, create_pool, migrate
from zerog_db.pool import Connection

SCHEMA = "svc"


@pytest.fixture
async def pool(fresh_db_url: str, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "001_create_effects.sql").write_text(
        "CREATE TABLE effects (id serial PRIMARY KEY, what text NOT NULL);"
    )
    await migrate(fresh_db_url, SCHEMA, migrations)
    pool = await create_pool(fresh_db_url, search_path=SCHEMA, max_size=30)
    yield pool
    await pool.close()


def ask(text: str, request_id: str = "r-1", scope: str = "inference") -> Request:
    return Request.of(scope, request_id, "Do", StringValue(value=text))


async def effects(pool: asyncpg.Pool) -> list[str]:
    return [row["what"] for row in await pool.fetch("SELECT what FROM effects ORDER BY id")]


async def test_a_retry_gets_the_first_answer_and_the_work_runs_once(pool: asyncpg.Pool) -> None:
    once = Once(pool)
    calls: list[str] = []

    async def work() -> StringValue:
        calls.append("ran")
        return StringValue(value=f"answer {len(calls)}")

    first = await once.run(ask("x"), StringValue, work)
    again = await once.run(ask("x"), StringValue, work)

    assert first == again == StringValue(value="answer 1")
    assert calls == ["ran"]


async def test_another_request_under_the_same_id_is_refused(pool: asyncpg.Pool) -> None:
    once = Once(pool)
    await once.run(ask("x"), StringValue, lambda: _answer("a"))

    with pytest.raises(RequestIdReused) as raised:
        await once.run(ask("y"), StringValue, lambda: _answer("b"))
    assert raised.value.request_id == "r-1"
    # Another method under the same id is another request too.
    other_method = Request.of("inference", "r-1", "Other", StringValue(value="x"))
    with pytest.raises(RequestIdReused):
        await once.run(other_method, StringValue, lambda: _answer("c"))


async def test_scopes_do_not_share_request_ids(pool: asyncpg.Pool) -> None:
    once = Once(pool)
    a = await once.run(ask("x", scope="inference"), StringValue, lambda: _answer("a"))
    b = await once.run(ask("x", scope="storage"), StringValue, lambda: _answer("b"))
    assert (a.value, b.value) == ("a", "b")


async def test_concurrent_retries_run_once_and_the_others_are_told_to_come_back(
    pool: asyncpg.Pool,
) -> None:
    once = Once(pool, retry_after=0.25)
    release, running = asyncio.Event(), asyncio.Event()

    async def work() -> StringValue:
        await pool.execute("INSERT INTO effects (what) VALUES ('paid')")
        running.set()
        await release.wait()
        return StringValue(value="done")

    first = asyncio.create_task(once.run(ask("x"), StringValue, work))
    await asyncio.wait_for(running.wait(), 10)
    duplicates = await asyncio.gather(
        *(once.run(ask("x"), StringValue, work) for _ in range(19)), return_exceptions=True
    )
    assert all(isinstance(d, RequestInProgress) for d in duplicates)
    assert {d.retry_after for d in duplicates if isinstance(d, RequestInProgress)} == {0.25}

    release.set()
    assert (await first).value == "done"
    retried = await asyncio.gather(*(once.run(ask("x"), StringValue, work) for _ in range(19)))
    assert {r.value for r in retried} == {"done"}
    assert await effects(pool) == ["paid"]


async def test_a_failure_gives_the_claim_up_so_the_retry_runs(pool: asyncpg.Pool) -> None:
    once = Once(pool)

    async def broken() -> StringValue:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        await once.run(ask("x"), StringValue, broken)
    assert (await once.run(ask("x"), StringValue, lambda: _answer("ok"))).value == "ok"


async def test_a_claim_whose_lease_passed_is_taken_over(pool: asyncpg.Pool) -> None:
    once = Once(pool, lease=timedelta(milliseconds=200))
    dead = await once.claim(ask("x"))
    assert not isinstance(dead, bytes)
    with pytest.raises(RequestInProgress):
        await once.claim(ask("x"))

    await asyncio.sleep(0.3)
    answer = await once.run(ask("x"), StringValue, lambda: _answer("new owner"))

    assert answer.value == "new owner"
    # The replica that died comes back too late: its answer is not stored over the new one.
    assert not await once.finish(dead, StringValue(value="old owner"))
    assert (await once.run(ask("x"), StringValue, lambda: _answer("?"))).value == "new owner"


async def test_a_live_call_keeps_its_claim_past_the_lease(pool: asyncpg.Pool) -> None:
    once = Once(pool, lease=timedelta(milliseconds=300))
    release, running = asyncio.Event(), asyncio.Event()

    async def long_upload() -> StringValue:
        running.set()
        await release.wait()
        return StringValue(value="uploaded")

    first = asyncio.create_task(once.run(ask("x"), StringValue, long_upload))
    await asyncio.wait_for(running.wait(), 10)
    await asyncio.sleep(1.0)  # over three leases

    with pytest.raises(RequestInProgress):
        await once.run(ask("x"), StringValue, long_upload)
    release.set()
    assert (await first).value == "uploaded"


async def test_a_shielded_run_finishes_when_the_caller_hangs_up(pool: asyncpg.Pool) -> None:
    once = Once(pool)
    started = asyncio.Event()

    async def slow_payment() -> StringValue:
        started.set()
        await asyncio.sleep(0.2)
        await pool.execute("INSERT INTO effects (what) VALUES ('paid')")
        return StringValue(value="paid")

    caller = asyncio.create_task(once.run(ask("x"), StringValue, slow_payment, shield=True))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0.4)

    assert await effects(pool) == ["paid"]
    assert (await once.run(ask("x"), StringValue, slow_payment)).value == "paid"
    assert await effects(pool) == ["paid"]


async def test_work_in_a_transaction_commits_with_its_answer_or_not_at_all(
    pool: asyncpg.Pool,
) -> None:
    once = Once(pool)

    async def write_then_fail(conn: Connection) -> StringValue:
        await conn.execute("INSERT INTO effects (what) VALUES ('half')")
        raise RuntimeError("constraint")

    with pytest.raises(RuntimeError):
        await once.run_in_transaction(ask("x"), StringValue, write_then_fail)
    assert await effects(pool) == []

    async def write(conn: Connection) -> StringValue:
        await conn.execute("INSERT INTO effects (what) VALUES ('whole')")
        return StringValue(value="written")

    answers = await asyncio.gather(
        *(once.run_in_transaction(ask("x"), StringValue, write) for _ in range(20)),
        return_exceptions=True,
    )
    assert {a.value for a in answers if isinstance(a, StringValue)} == {"written"}
    assert all(isinstance(a, (StringValue, RequestInProgress)) for a in answers)
    assert await effects(pool) == ["whole"]


async def test_a_claim_inside_one_statement(pool: asyncpg.Pool) -> None:
    once = Once(pool)

    async def reserve(request: Request) -> str:
        claim, args = Once.statement(request, 2)
        try:
            return str(
                await pool.fetchval(
                    f"WITH claim AS ({claim})"
                    " INSERT INTO effects (what) VALUES ($1) RETURNING what",
                    "reserved",
                    *args,
                )
            )
        except asyncpg.UniqueViolationError as error:
            assert Once.is_duplicate(error)
            assert await once.replay(request) == b""
            return "replayed"

    results = await asyncio.gather(*(reserve(ask("x")) for _ in range(20)))

    assert sorted(results) == ["replayed"] * 19 + ["reserved"]
    assert await effects(pool) == ["reserved"]
    with pytest.raises(RequestIdReused):
        await once.replay(ask("y"))


async def _answer(text: str) -> StringValue:
    return StringValue(value=text)
