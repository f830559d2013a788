"""The RPC that lists delivery records: one per notification and channel, newest first."""

from __future__ import annotations

from services.scheduler import convert, pages, validate
from services.scheduler.deps import Context, Deps
from services.scheduler.store import outbox
from zerog.scheduler.v1 import scheduler_service_pb2 as pb
from zerog_grpc import Problems, Rpcs


class DeliveryRpcs(Rpcs[Deps]):
    """Delivery records."""

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Context
    ) -> pb.ListDeliveriesResponse:
        problems = Problems()
        validate.name(problems, "user_id", request.user_id, required=False)
        validate.name(problems, "job_name", request.job_name, required=False)
        if request.state and request.state not in convert.DELIVERY_STATE_FROM_PB:
            problems["state"] = "unknown delivery state"
        before = pages.cursor(
            problems,
            request.page_size,
            request.page_token,
            lambda p: (pages.token_time(p[0]), p[1]),
            None,
            parts=2,
        )
        problems.raise_if_any("invalid ListDeliveriesRequest")
        size = request.page_size or pages.DEFAULT_SIZE
        query = outbox.DeliveryQuery(
            request.user_id,
            request.job_name,
            convert.DELIVERY_STATE_FROM_PB.get(request.state, ""),
            before,
            size + 1,
        )
        found = await outbox.list_deliveries(self.deps.pool, query)
        shown, token = pages.page(found, size, lambda d: (d.created_at.isoformat(), d.id))
        return pb.ListDeliveriesResponse(
            deliveries=[convert.delivery(d) for d in shown], next_page_token=token
        )
