"""Answers stored before migration 005 replay after it: retries across the upgrade are safe."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc.aio

from services.quota import server
from services.quota.model import Unit, UsageItem
from services.quota.store.reserve_commit import Ask, reserve_request
from services.quota.store.usage import release_fingerprint
from tests.quota.conftest import MIGRATIONS, quota_config
from tests.support import auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import create_pool, migrate

BYTES = pb.UNIT_STORAGE_BYTES
# Above 2**32, so the answer's amount takes a five-byte varint.
BIG = 5_000_000_000


async def test_stored_answers_replay_after_the_upgrade(fresh_db_url: str, tmp_path: Path) -> None:
    for migration in sorted(MIGRATIONS.glob("00[1-4]_*.sql")):
        shutil.copy(migration, tmp_path)
    await migrate(fresh_db_url, "quota", tmp_path)
    pool = await create_pool(fresh_db_url, search_path="quota", max_size=5)
    ask = Ask("user:a", "put", [UsageItem(Unit.STORAGE_BYTES, 10)], timedelta(seconds=60))
    old = reserve_request("storage", "put-1", ask)
    now = datetime.now(UTC)
    reservation_id = await pool.fetchval(
        "SELECT reservation_id FROM reserve($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
        " 'free')",
        uuid.uuid4(),
        old.scope,
        old.request_id,
        old.fingerprint,
        ask.subject,
        ask.operation,
        ["storage_bytes"],
        [""],
        [10],
        now,
        now + ask.ttl,
        f"{now:%Y-%m}",
    )
    await pool.execute("UPDATE usage SET used = $1 WHERE unit = 'storage_bytes'", 2 * BIG)
    for request_id, amount in (("free-1", 400), ("free-2", BIG)):
        items = [UsageItem(Unit.STORAGE_BYTES, amount)]
        await pool.execute(
            "INSERT INTO usage_releases VALUES ('storage', $1, $2, 'user:a', $3, now())",
            request_id,
            release_fingerprint("user:a", items),
            {"storage_bytes": amount},
        )

    await migrate(fresh_db_url, "quota", MIGRATIONS)
    running = await server.start(pool, quota_config(fresh_db_url), "127.0.0.1:0")
    metadata = auth_metadata("storage", "quota")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = quota_service_pb2_grpc.QuotaServiceStub(channel)
            for request_id, amount in (("free-1", 400), ("free-2", BIG)):
                again = await stub.ReleaseUsage(
                    pb.ReleaseUsageRequest(
                        request_id=request_id,
                        subject="user:a",
                        items=[pb.UsageItem(unit=BYTES, amount=amount)],
                    ),
                    metadata=metadata,
                )
                assert [(i.unit, i.amount) for i in again.released] == [(BYTES, amount)]
            retried = await stub.Reserve(
                pb.ReserveRequest(
                    request_id="put-1",
                    subject="user:a",
                    operation="put",
                    items=[pb.UsageItem(unit=BYTES, amount=10)],
                ),
                metadata=metadata,
            )
            assert retried.reservation.reservation_id == str(reservation_id)
    finally:
        await running.stop(grace=None)
        await pool.close()
    check = await create_pool(fresh_db_url, search_path="quota", max_size=2)
    try:
        assert (
            await check.fetchval("SELECT used FROM usage WHERE unit = 'storage_bytes'") == 2 * BIG
        )
        assert await check.fetchval("SELECT count(*) FROM reservations") == 1
    finally:
        await check.close()
