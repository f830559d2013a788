"""A pushed snapshot's request_id belongs to the calling service: the same id from two services
stores two snapshots, while one service retrying stores one."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.scheduler.conftest import Scheduler
from tests.scheduler.helpers import add_user
from zerog.scheduler.v1 import scheduler_service_pb2 as pb


def _push(user: str, cash: int) -> pb.PushPortfolioSnapshotRequest:
    snapshot = pb.PortfolioSnapshot(user_id=user, cash_micro_usd=cash)
    snapshot.as_of.FromDatetime(datetime(2026, 3, 5, 21, 0, tzinfo=UTC))
    return pb.PushPortfolioSnapshotRequest(request_id="snap-1", snapshot=snapshot)


async def test_two_services_pushing_one_request_id_store_two_snapshots(
    scheduler: Scheduler,
) -> None:
    await add_user(scheduler, "u1", "UTC")

    await scheduler.stub.PushPortfolioSnapshot(_push("u1", 100), metadata=scheduler.as_service())
    await scheduler.stub.PushPortfolioSnapshot(
        _push("u1", 200), metadata=scheduler.as_service("admin")
    )
    await scheduler.stub.PushPortfolioSnapshot(_push("u1", 100), metadata=scheduler.as_service())

    rows = await scheduler.pool.fetch(
        "SELECT cash_micro_usd FROM snapshots WHERE user_id = 'u1' ORDER BY cash_micro_usd"
    )
    assert [int(r["cash_micro_usd"]) for r in rows] == [100, 200]
