"""Budget adherence under concurrency: 200 reservations racing for one budget."""

from __future__ import annotations

import asyncio

import grpc
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

BUDGET = 150_000
EACH = 1_000


async def test_200_concurrent_reservations_never_exceed_the_budget(quota: Quota) -> None:
    await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="tenant:acme", tier="custom", custom_limits=pb.Limits(compute_tokens=BUDGET)
        ),
        metadata=quota.as_service("admin"),
    )
    metadata = quota.as_service()

    async def one(index: int) -> pb.Reservation | grpc.aio.AioRpcError:
        try:
            response = await quota.stub.Reserve(
                pb.ReserveRequest(
                    request_id=f"req-{index}",
                    subject="tenant:acme",
                    items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=EACH)],
                ),
                metadata=metadata,
            )
            return response.reservation
        except grpc.aio.AioRpcError as error:
            return error

    outcomes = await asyncio.gather(*(one(i) for i in range(200)))

    granted = [o for o in outcomes if isinstance(o, pb.Reservation)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(granted) == BUDGET // EACH
    assert len(granted) + len(refused) == 200
    for error in refused:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert unpack_detail(error, error_details_pb2.QuotaFailure) is not None

    commits = await asyncio.gather(
        *(
            quota.stub.Commit(
                pb.CommitRequest(
                    reservation_id=r.reservation_id,
                    items=[pb.UsageItem(unit=pb.UNIT_COMPUTE_TOKENS, amount=EACH)],
                ),
                metadata=metadata,
            )
            for r in granted
        )
    )
    committed = sum(c.cost_record.items[0].amount for c in commits)
    assert committed <= BUDGET
    used = await quota.pool.fetchval(
        "SELECT used FROM usage WHERE subject = 'tenant:acme' AND unit = 'compute_tokens'"
    )
    assert used == committed == BUDGET
    assert await quota.pool.fetchval("SELECT count(*) FROM cost_records") == len(granted)
