"""The throwaway cluster itself: it starts, answers, and cleans up after itself."""

import socket

import asyncpg
import pytest

from zerog_db import cluster
from zerog_db.cluster import TempCluster


async def test_cluster_starts_answers_and_removes_its_directory() -> None:
    cluster = TempCluster().start()
    try:
        conn = await asyncpg.connect(cluster.dsn)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
    finally:
        cluster.stop()
    assert not cluster.directory.exists()


async def test_a_port_taken_before_postgres_binds_it_is_chosen_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = [taken.getsockname()[1], cluster.free_port()]
        # The first port offered is already bound by someone else, as in a parallel test run.
        monkeypatch.setattr(cluster, "free_port", lambda: ports.pop(0))
        with TempCluster() as pg:
            assert pg.port != taken.getsockname()[1]
            conn = await asyncpg.connect(pg.dsn)
            assert await conn.fetchval("SELECT 1") == 1
            await conn.close()
