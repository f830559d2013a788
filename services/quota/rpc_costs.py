"""RPCs of what was spent: cost records page by page, and a month's totals."""

from __future__ import annotations

from services.quota import convert, validate
from services.quota.deps import Deps
from services.quota.store import records
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Rpcs
from zerog_grpc.handlers import Context


class CostRpcs(Rpcs[Deps]):
    """ListCostRecords and GetCostSummary."""

    async def ListCostRecords(
        self, request: pb.ListCostRecordsRequest, context: Context
    ) -> pb.ListCostRecordsResponse:
        problems = validate.names(request, "subject", optional=("service",))
        problems.within("page_size", request.page_size, 0, 500)
        start = end = None
        if request.HasField("start_time"):
            start = problems.timestamp("start_time", request.start_time)
        if request.HasField("end_time"):
            end = problems.timestamp("end_time", request.end_time)
        if start and end and end <= start:
            problems.add("end_time", "must be after start_time")
        if request.page_token:
            try:
                records.decode_page_token(request.page_token)
            except records.BadPageToken:
                problems.add("page_token", "not a page token from this service")
        problems.raise_if_any("invalid ListCostRecordsRequest")
        query = records.RecordQuery(
            request.subject,
            start,
            end,
            request.service,
            request.page_size or 50,
            request.page_token,
        )
        found, token = await records.list_cost_records(self.deps.pool, query)
        return pb.ListCostRecordsResponse(
            cost_records=[convert.cost_record(r) for r in found], next_page_token=token
        )

    async def GetCostSummary(
        self, request: pb.GetCostSummaryRequest, context: Context
    ) -> pb.GetCostSummaryResponse:
        problems = validate.names(request, "subject")
        validate.period(problems, request.period)
        problems.raise_if_any("invalid GetCostSummaryRequest")
        period = request.period or self.deps.month()
        totals = await records.cost_summary(self.deps.pool, request.subject, period)
        return pb.GetCostSummaryResponse(
            subject=request.subject,
            period=period,
            totals=[convert.cost_total(t) for t in totals],
            total_cost_micro_usd=sum(t.cost_micro_usd for t in totals),
        )
