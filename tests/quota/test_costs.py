"""Cost records: listing with filters and pages, and monthly summaries."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from tests.quota.conftest import Quota
from zerog.quota.v1 import quota_service_pb2 as pb


async def spend(quota: Quota, request_id: str, unit: int, amount: int, service: str) -> None:
    item = pb.UsageItem(unit=unit, amount=amount)  # type: ignore[arg-type]
    reserved = await quota.stub.Reserve(
        pb.ReserveRequest(request_id=request_id, subject="tenant:t", items=[item], operation="op"),
        metadata=quota.as_service(service),
    )
    await quota.stub.Commit(
        pb.CommitRequest(reservation_id=reserved.reservation.reservation_id, items=[item]),
        metadata=quota.as_service(service),
    )


async def test_records_page_newest_first_and_filter_by_service_and_time(quota: Quota) -> None:
    for index in range(7):
        await spend(quota, f"t{index}", pb.UNIT_COMPUTE_TOKENS, 100 + index, "inference")
        quota.clock.advance(minutes=1)
    await spend(quota, "s", pb.UNIT_STORAGE_BYTES, 200_000_000, "storage")

    seen, token = [], ""
    while True:
        page = await quota.stub.ListCostRecords(
            pb.ListCostRecordsRequest(
                subject="tenant:t", service="inference", page_size=3, page_token=token
            ),
            metadata=quota.as_service(),
        )
        seen += [r.items[0].amount for r in page.cost_records]
        token = page.next_page_token
        if not token:
            break
    assert seen == [106, 105, 104, 103, 102, 101, 100]

    start = Timestamp()
    start.FromDatetime(quota.clock.now)
    recent = await quota.stub.ListCostRecords(
        pb.ListCostRecordsRequest(subject="tenant:t", start_time=start), metadata=quota.as_service()
    )
    assert [r.service for r in recent.cost_records] == ["storage"]
    assert recent.cost_records[0].cost_micro_usd == 20_000  # 0.2 GB at $0.10/GB


async def test_summary_totals_a_month_by_service_and_unit(quota: Quota) -> None:
    await spend(quota, "a", pb.UNIT_COMPUTE_TOKENS, 1000, "inference")
    await spend(quota, "b", pb.UNIT_COMPUTE_TOKENS, 500, "inference")
    await spend(quota, "c", pb.UNIT_STORAGE_BYTES, 10_000_000, "storage")
    summary = await quota.stub.GetCostSummary(
        pb.GetCostSummaryRequest(subject="tenant:t"), metadata=quota.as_service()
    )
    assert summary.period == "2026-11"
    assert [(t.service, t.unit, t.amount, t.cost_micro_usd) for t in summary.totals] == [
        ("inference", pb.UNIT_COMPUTE_TOKENS, 1500, 30_000),
        ("storage", pb.UNIT_STORAGE_BYTES, 10_000_000, 1_000),
    ]
    assert summary.total_cost_micro_usd == 31_000
    empty = await quota.stub.GetCostSummary(
        pb.GetCostSummaryRequest(subject="tenant:t", period="2026-10"), metadata=quota.as_service()
    )
    assert empty.total_cost_micro_usd == 0 and not empty.totals


async def test_tiers_have_defaults_and_custom_limits_override_them(quota: Quota) -> None:
    tiers = await quota.stub.ListTiers(pb.ListTiersRequest(), metadata=quota.as_service())
    assert [t.name for t in tiers.tiers] == ["custom", "free", "premium"]
    standing = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="new-user"), metadata=quota.as_service()
    )
    assert standing.tier == "free"
    assert {u.unit: u.limit for u in standing.usages}[pb.UNIT_COMPUTE_TOKENS] == 100_000

    await quota.stub.SetTierLimits(
        pb.SetTierLimitsRequest(tier="free", limits=pb.Limits(compute_tokens=5, storage_bytes=9)),
        metadata=quota.as_service("admin"),
    )
    changed = await quota.stub.SetSubjectTier(
        pb.SetSubjectTierRequest(
            subject="vip", tier="custom", custom_limits=pb.Limits(compute_tokens=42)
        ),
        metadata=quota.as_service("admin"),
    )
    limits = {u.unit: (u.HasField("limit"), u.limit) for u in changed.quota.usages}
    assert limits[pb.UNIT_COMPUTE_TOKENS] == (True, 42)
    # Cost falls back to the custom tier's default.
    assert limits[pb.UNIT_COST_MICRO_USD] == (True, 500_000_000)
    free = await quota.stub.GetQuota(
        pb.GetQuotaRequest(subject="other"), metadata=quota.as_service()
    )
    free_limits = {u.unit: (u.HasField("limit"), u.limit) for u in free.usages}
    assert free_limits[pb.UNIT_COMPUTE_TOKENS] == (True, 5)
    # The free tier now has no cost limit set: unlimited, shown without a limit.
    assert free_limits[pb.UNIT_COST_MICRO_USD] == (False, 0)
