"""SQL of cost records (commit_reservation() writes them): listed by subject and time, summed by
month."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.quota.model import CostRecord, CostTotal, PricedItem, Unit
from zerog_db import Executor


class BadPageToken(ValueError):
    """A page token that this service did not issue."""


def charge_columns(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    """The Charge fields of a reservations or cost_records row, which spell them alike."""
    return {
        "subject": row["subject"],
        "service": row["service"],
        "operation": row["operation"],
        "items": [PricedItem.from_json(item) for item in row["items"]],
        "cost_micro_usd": row["cost_micro_usd"],
        "period": row["period"],
        "created_at": row["created_at"],
    }


def record_of(row: asyncpg.Record | Mapping[str, Any] | None) -> CostRecord:
    """A cost record from its row (a cost_records row or composite)."""
    assert row is not None
    return CostRecord(
        **charge_columns(row),
        cost_record_id=row["cost_record_id"],
        reservation_id=None if row["reservation_id"] is None else str(row["reservation_id"]),
        metadata=dict(row["metadata"]),
        late=row["late"],
        overage=[PricedItem.from_json(item) for item in row["overage"]],
    )


async def record_for(db: Executor, reservation_id: str) -> CostRecord:
    """The cost record a committed reservation wrote."""
    return record_of(
        await db.fetchrow(
            "SELECT * FROM cost_records WHERE reservation_id = $1", uuid.UUID(reservation_id)
        )
    )


@dataclass(frozen=True)
class RecordQuery:
    """Which cost records to list."""

    subject: str
    start: datetime | None = None
    end: datetime | None = None
    service: str = ""
    page_size: int = 50
    page_token: str = ""


def _encode_token(created_at: datetime, record_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), record_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_page_token(token: str) -> tuple[datetime, int]:
    """The (created_at, id) a page token continues after."""
    try:
        created, record_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(created), int(record_id)
    except (ValueError, TypeError) as error:
        raise BadPageToken(token) from error


async def list_cost_records(pool: asyncpg.Pool, query: RecordQuery) -> tuple[list[CostRecord], str]:
    """A page of records, newest first, and the token of the next page ('' on the last)."""
    after = decode_page_token(query.page_token) if query.page_token else None
    rows = await pool.fetch(
        """
        SELECT * FROM cost_records
        WHERE subject = $1
          AND ($2::timestamptz IS NULL OR created_at >= $2)
          AND ($3::timestamptz IS NULL OR created_at < $3)
          AND ($4 = '' OR service = $4)
          AND ($5::timestamptz IS NULL OR (created_at, cost_record_id) < ($5, $6))
        ORDER BY created_at DESC, cost_record_id DESC
        LIMIT $7
        """,
        query.subject,
        query.start,
        query.end,
        query.service,
        after[0] if after else None,
        after[1] if after else 0,
        query.page_size + 1,
    )
    records = [record_of(row) for row in rows[: query.page_size]]
    more = len(rows) > query.page_size
    token = _encode_token(records[-1].created_at, records[-1].cost_record_id) if more else ""
    return records, token


async def cost_summary(pool: asyncpg.Pool, subject: str, period: str) -> list[CostTotal]:
    """A month's usage and cost by service and unit."""
    rows = await pool.fetch(
        """
        SELECT service, item->>'unit' AS unit, sum((item->>'amount')::bigint) AS amount,
               sum((item->>'cost_micro_usd')::bigint) AS cost
        FROM cost_records, jsonb_array_elements(items) AS item
        WHERE subject = $1 AND period = $2
        GROUP BY service, item->>'unit' ORDER BY service, unit
        """,
        subject,
        period,
    )
    return [
        CostTotal(r["service"], Unit(r["unit"]), int(r["amount"]), int(r["cost"])) for r in rows
    ]
