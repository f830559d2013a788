"""The throwaway cluster itself: it starts, answers, and cleans up after itself."""

import asyncpg

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
