"""`python -m services.<svc>` is `run_service` for all five: the same commands, the same one-line
refusals, the same switches (MIGRATE_ON_START, SHUTDOWN_DELAY_SECONDS)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from grpc_health.v1 import health_pb2

from tests.processes import health_status, start_service_process
from tests.support import auth_env

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["broker", "inference", "quota", "scheduler", "storage"]
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def run(
    service: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME")}
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}", *args],
        cwd=ROOT,
        env={**keep, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_an_unknown_command_gets_the_usage(service: str) -> None:
    done = run(service, "frobnicate")

    assert done.returncode != 0
    assert done.stderr.strip() == f"usage: python -m services.{service} [serve|migrate]"


@pytest.mark.parametrize("service", SERVICES)
def test_a_missing_setting_is_one_line_naming_it(service: str) -> None:
    done = run(service, "serve")

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"{service}: configuration error:")
    assert re.search(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+ ", line), line  # the variable is named


@pytest.mark.parametrize("service", SERVICES)
def test_migrate_needs_only_the_database(service: str, fresh_db_url: str) -> None:
    done = run(service, "migrate", env={"DATABASE_URL": fresh_db_url})

    assert done.returncode == 0, done.stderr
    again = run(service, "migrate", env={"DATABASE_URL": fresh_db_url})
    assert again.returncode == 0, again.stderr


async def test_migrate_on_start_false_leaves_the_schema_to_the_migration_job(
    fresh_db_url: str,
) -> None:
    env = {"DATABASE_URL": fresh_db_url, **auth_env("quota")}
    done = await asyncio.to_thread(run, "quota", "migrate", env=env)
    assert done.returncode == 0, done.stderr
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("DELETE FROM quota.schema_migrations WHERE version = 1")
        quota = await start_service_process("quota", {**env, "MIGRATE_ON_START": "false"})
        try:
            await quota.wait_serving()
            # Serving without migrating: the record deleted above was not written again.
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM quota.schema_migrations WHERE version = 1"
                )
                == 0
            )
        finally:
            quota.terminate()
            async with asyncio.timeout(30):
                assert await quota.wait() == 0
    finally:
        await conn.close()


async def test_the_scheduler_reports_not_serving_for_the_shutdown_delay(
    fresh_db_url: str,
) -> None:
    scheduler = await start_service_process(
        "scheduler",
        {
            "DATABASE_URL": fresh_db_url,
            **auth_env("scheduler"),
            "SHUTDOWN_DELAY_SECONDS": "1",
        },
    )
    try:
        await scheduler.wait_serving()
        scheduler.terminate()
        statuses = [await health_status(scheduler.address)]
        async with asyncio.timeout(30):
            while statuses[-1] is not None:
                await asyncio.sleep(0.05)
                statuses.append(await health_status(scheduler.address))
            assert await scheduler.wait() == 0
        assert NOT_SERVING in statuses
    finally:
        if scheduler.process.returncode is None:
            scheduler.kill()
