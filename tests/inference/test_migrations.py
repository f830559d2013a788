"""Migration 003 on a database that served before it: who answered each request and the TEE
verdict are kept, unfinished claims and the old answers go (Once could never match them)."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from tests.inference.conftest import SERVICES_DIR
from zerog_db import migrate

MIGRATIONS = SERVICES_DIR / "inference" / "migrations"


async def test_003_keeps_who_answered_and_drops_the_old_answers(
    fresh_db_url: str, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for script in sorted(MIGRATIONS.glob("00[12]_*.sql")):
        shutil.copy(script, before)
    await migrate(fresh_db_url, "inference", before)
    conn = await asyncpg.connect(fresh_db_url)
    try:
        insert = (
            "INSERT INTO inference.responses (caller, method, request_id, fingerprint,"
            " response, provider, verification, claim_token, claimed_at)"
            " VALUES ($1, $2, $3, 'f', $4, $5, $6, $7, $8)"
        )
        await conn.execute(
            insert, "app", "ChatCompletion", "r1", b"a", "0xab", "verified", None, None
        )
        await conn.execute(insert, "app", "CreateChatSession", "r2", b"s", "", "", None, None)
        pending = uuid.uuid4()
        await conn.execute(
            insert, "app", "ChatCompletion", "r3", None, "", "", pending, datetime.now(UTC)
        )

        shutil.copy(next(MIGRATIONS.glob("003_*.sql")), before)
        assert await migrate(fresh_db_url, "inference", before) == 1

        kept = await conn.fetch(
            "SELECT scope, request_id, method, provider, verification FROM inference.answer_sources"
        )
        assert [tuple(r) for r in kept] == [("app", "r1", "ChatCompletion", "0xab", "verified")]
        assert await conn.fetchval("SELECT to_regclass('inference.responses')") is None
        assert await conn.fetchval("SELECT count(*) FROM inference.idempotency") == 0
    finally:
        await conn.close()
