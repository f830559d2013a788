"""SQL of answers' TEE checks: who answered each request, what its provider's TEE signed, and
what the check found (inference.answer_sources, migrations 003 and 006)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.inference.verification import PENDING, Signed, Verdict
from zerog_db import Alongside, Executor, Request


@dataclass(frozen=True)
class Pending:
    """An answer whose check is still to be made, and how often one was tried."""

    scope: str
    request_id: str
    signed: Signed
    attempts: int = 0


def answered_by(
    request: Request, provider: str, verdict: Verdict, signed: Signed | None, grace: float
) -> Alongside:
    """Who answered `request` and its check (PENDING: what to check, which any replica may do
    once `grace` seconds passed); written with the stored answer (Once.finish's `alongside`)."""
    s = signed or Signed(provider, verdict.chat_id, "", "")
    return (
        "INSERT INTO inference.answer_sources (scope, request_id, method, provider, verification,"
        " chat_id, request_sha256, response_sha256, reason, signing_address, checked_at,"
        " check_after) VALUES ($5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
        " CASE WHEN $9 = 'pending' THEN NULL ELSE clock_timestamp() END,"
        " clock_timestamp() + make_interval(secs => $15))"
        " ON CONFLICT (scope, request_id) DO UPDATE SET provider = EXCLUDED.provider,"
        " verification = EXCLUDED.verification, chat_id = EXCLUDED.chat_id,"
        " request_sha256 = EXCLUDED.request_sha256, response_sha256 = EXCLUDED.response_sha256,"
        " reason = EXCLUDED.reason, signing_address = EXCLUDED.signing_address,"
        " checked_at = EXCLUDED.checked_at, check_after = EXCLUDED.check_after",
        (
            request.scope,
            request.request_id,
            request.method,
            provider,
            verdict.status,
            s.chat_id,
            s.request_sha256,
            s.response_sha256,
            verdict.reason,
            verdict.signing_address,
            grace,
        ),
    )


async def overdue(db: Executor, limit: int, hold_seconds: float) -> list[Pending]:
    """Up to `limit` pending checks past their time, held for `hold_seconds` so that replicas
    sweeping at once take different ones."""
    rows = await db.fetch(
        "UPDATE inference.answer_sources a SET check_attempts = a.check_attempts + 1,"
        " check_after = clock_timestamp() + make_interval(secs => $2)"
        " FROM (SELECT scope, request_id FROM inference.answer_sources"
        " WHERE verification = 'pending' AND check_after <= clock_timestamp()"
        " ORDER BY check_after LIMIT $1 FOR UPDATE SKIP LOCKED) due"
        " WHERE a.scope = due.scope AND a.request_id = due.request_id"
        " RETURNING a.scope, a.request_id, a.provider, a.chat_id, a.request_sha256,"
        " a.response_sha256, a.check_attempts",
        limit,
        hold_seconds,
    )
    return [
        Pending(
            r["scope"],
            r["request_id"],
            Signed(r["provider"], r["chat_id"], r["request_sha256"], r["response_sha256"]),
            r["check_attempts"],
        )
        for r in rows
    ]


async def record(db: Executor, checked: Sequence[tuple[Pending, Verdict]]) -> None:
    """Store the verdicts of pending checks (one statement); a check already recorded stays."""
    if not checked:
        return
    await db.execute(
        "UPDATE inference.answer_sources a SET verification = v.status, reason = v.reason,"
        " signing_address = v.signer, checked_at = clock_timestamp(), check_after = NULL"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])"
        " AS v(scope, request_id, status, reason, signer)"
        " WHERE a.scope = v.scope AND a.request_id = v.request_id"
        f" AND a.verification = '{PENDING}'",
        [p.scope for p, _ in checked],
        [p.request_id for p, _ in checked],
        [v.status for _, v in checked],
        [v.reason for _, v in checked],
        [v.signing_address for _, v in checked],
    )


async def verification_of(db: Executor, scope: str, request_id: str) -> asyncpg.Record | None:
    """The answer's provider, check and times, or None when `scope` has no answer there."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT provider, verification, chat_id, reason, signing_address, created_at,"
        " checked_at FROM inference.answer_sources WHERE scope = $1 AND request_id = $2",
        scope,
        request_id,
    )
    return row
