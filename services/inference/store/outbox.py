"""The settlement outbox's SQL: what each answer owes quota and the broker, until acknowledged."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from zerog_db import Alongside, Connection, Executor
from zerog_grpc.tracing import traceparent


@dataclass(frozen=True)
class Settlement:
    """What one provider answer owes: a quota commit of `tokens` on the reservation, and the
    broker's record of the provider's fee under `usage_id`."""

    reservation_id: str
    price_key: str
    tokens: int
    usage_id: str
    provider: str
    user: str
    input_tokens: int
    output_tokens: int
    fee_neuron: int
    model: str
    chat_id: str
    leased: bool = False
    """Spent from a budget lease (reservation_id is the lease's): reported to it, not
    committed."""

    def metadata(self) -> dict[str, str]:
        """The facts quota keeps on the cost record."""
        return {"provider": self.provider, "model": self.model, "chat_id": self.chat_id}


class Queue(Protocol):
    """Where settlements go: the settler's outbox."""

    async def alone(self, settlement: Settlement) -> None:
        """Queue `settlement` in a statement of its own (no answer is stored with it)."""

    def wake(self) -> None:
        """Settlements were queued: settle them now rather than at the next poll."""


@dataclass(frozen=True)
class Pending:
    """An unsettled row: which of its two steps are still to do, and how often it was tried."""

    settlement_id: int
    settlement: Settlement
    committed: bool
    recorded: bool
    attempts: int
    trace_parent: str = ""
    """The answer's traceparent, so the batch that settles it links to its trace."""


@dataclass(frozen=True)
class Step:
    """What became of one step of a row: done (refused for good when `refusal` is set), or to
    be tried again."""

    done: bool
    refusal: str = ""
    error: str = ""


@dataclass(frozen=True)
class Outcome:
    """What one settler round did for a row; `retry_in` seconds until it is tried again if a
    step is left."""

    settlement_id: int
    commit: Step
    record: Step
    retry_in: float


DONE = Step(True)
_FIELDS = [f.name for f in dataclasses.fields(Settlement)]
_COLUMNS = ", ".join("user_id" if name == "user" else name for name in _FIELDS)


def _insert(first: int) -> str:
    values = ", ".join(f"${i}" for i in range(first, first + len(_FIELDS) + 1))
    return (
        f"INSERT INTO inference.settlements ({_COLUMNS}, trace_parent, answered_at)"
        f" VALUES ({values}, clock_timestamp()) ON CONFLICT (usage_id) DO NOTHING"
    )


async def enqueue(db: Executor, settlement: Settlement) -> None:
    """Queue `settlement` (in `db`'s transaction when it is one); queued twice is kept once."""
    await db.execute(_insert(1), *dataclasses.astuple(settlement), traceparent())


def queued(settlement: Settlement) -> Alongside:
    """`enqueue` as a write that goes with the stored answer (Once.finish's `alongside`)."""
    return _insert(5), (*dataclasses.astuple(settlement), traceparent())


async def due(conn: Connection, limit: int) -> list[Pending]:
    """Up to `limit` unsettled rows that are due, locked for this transaction; rows another
    settler holds are skipped, so replicas share the outbox without waiting on each other."""
    rows = await conn.fetch(
        f"SELECT settlement_id, {_COLUMNS}, committed_at IS NOT NULL AS committed,"
        " recorded_at IS NOT NULL AS recorded, attempts, trace_parent"
        " FROM inference.settlements WHERE settled_at IS NULL AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, settlement_id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    return [
        Pending(
            r["settlement_id"],
            _settlement(r),
            r["committed"],
            r["recorded"],
            r["attempts"],
            r["trace_parent"],
        )
        for r in rows
    ]


def _settlement(row: asyncpg.Record) -> Settlement:
    values = {name: row["user_id" if name == "user" else name] for name in _FIELDS}
    # numeric comes back a Decimal, whose str() may be "1.60E+10": money is an int here.
    return Settlement(**{**values, "fee_neuron": int(values["fee_neuron"])})


async def mark(conn: Connection, outcomes: list[Outcome]) -> list[float]:
    """Record what a round did; the seconds from answer to settlement of each row it settled."""
    rows = await conn.fetch(
        "UPDATE inference.settlements s SET"
        " committed_at = CASE WHEN u.committed THEN coalesce(s.committed_at, clock_timestamp())"
        " ELSE s.committed_at END,"
        " quota_error = s.quota_error || u.quota_error,"
        " recorded_at = CASE WHEN u.recorded THEN coalesce(s.recorded_at, clock_timestamp())"
        " ELSE s.recorded_at END,"
        " broker_error = s.broker_error || u.broker_error,"
        " settled_at = CASE WHEN (s.committed_at IS NOT NULL OR u.committed)"
        " AND (s.recorded_at IS NOT NULL OR u.recorded) THEN clock_timestamp() END,"
        " attempts = s.attempts + 1, last_error = u.error,"
        " next_attempt_at = clock_timestamp() + make_interval(secs => u.retry_in)"
        " FROM unnest($1::bigint[], $2::bool[], $3::text[], $4::bool[], $5::text[], $6::text[],"
        " $7::float8[]) AS u(id, committed, quota_error, recorded, broker_error, error, retry_in)"
        " WHERE s.settlement_id = u.id AND s.settled_at IS NULL"
        " RETURNING extract(epoch FROM s.settled_at - s.answered_at)::float8 AS lag",
        [o.settlement_id for o in outcomes],
        [o.commit.done for o in outcomes],
        [o.commit.refusal for o in outcomes],
        [o.record.done for o in outcomes],
        [o.record.refusal for o in outcomes],
        ["; ".join(e for e in (o.commit.error, o.record.error) if e) for o in outcomes],
        [o.retry_in for o in outcomes],
    )
    return [r["lag"] for r in rows if r["lag"] is not None]


async def unsettled(db: Executor) -> int:
    """How many answers are not settled yet."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM inference.settlements WHERE settled_at IS NULL"
    )
    return count
