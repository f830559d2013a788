"""CommitBatch: each commit as Commit would make it, refusals per item, retries replayed."""

from __future__ import annotations

import grpc
import pytest

from tests.quota.conftest import Quota
from tests.quota.test_reserve import reserve, tokens
from zerog.quota.v1 import quota_service_pb2 as pb


def commit(reservation_id: str, amount: int) -> pb.CommitRequest:
    return pb.CommitRequest(
        reservation_id=reservation_id, items=[tokens(amount)], metadata={"provider": "0xabc"}
    )


async def test_batch_commits_each_and_reports_refusals_per_item(quota: Quota) -> None:
    first = await reserve(quota, "b1", tokens(100))
    second = await reserve(quota, "b2", tokens(100))
    # The price a reply's cost is worked out from without waiting for the commit.
    assert (first.items[0].price_micro_usd, first.items[0].price_per_amount) == (20_000, 1000)
    missing = "00000000-0000-4000-8000-000000000000"
    batch = pb.CommitBatchRequest(
        commits=[
            commit(first.reservation_id, 40),
            commit(missing, 1),
            commit(second.reservation_id, 7),
        ]
    )

    answer = await quota.stub.CommitBatch(batch, metadata=quota.as_service())

    ok, refused, also_ok = answer.results
    assert ok.committed.cost_record.cost_micro_usd == 40 * 20
    assert (refused.error.code, refused.error.reason) == ("NOT_FOUND", "RESERVATION_NOT_FOUND")
    assert not refused.HasField("committed")
    assert also_ok.committed.reservation.state == pb.RESERVATION_STATE_COMMITTED

    # Sent again (the acknowledgement was lost): the same records, nothing billed twice.
    again = await quota.stub.CommitBatch(batch, metadata=quota.as_service())
    assert again.results[0].committed.cost_record == ok.committed.cost_record
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="user:alice"), metadata=quota.as_service()
    )
    used = {u.unit: u.used for u in standing.usages}
    assert used[pb.UNIT_COMPUTE_TOKENS] == 47


async def test_empty_batch_is_invalid(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await quota.stub.CommitBatch(pb.CommitBatchRequest(), metadata=quota.as_service())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
