"""The alerts RPC: stored alerts after a given id, then new ones as commits raise them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.quota import convert, validate
from services.quota.deps import Deps
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import Rpcs
from zerog_grpc.handlers import Context


class AlertRpcs(Rpcs[Deps]):
    """WatchAlerts."""

    async def WatchAlerts(
        self, request: pb.WatchAlertsRequest, context: Context
    ) -> AsyncIterator[pb.WatchAlertsResponse]:
        problems = validate.names(request, optional=("subject",))
        problems.not_negative("after_alert_id", request.after_alert_id)
        problems.raise_if_any("invalid WatchAlertsRequest")
        async for alert in self.deps.hub.watch(request.after_alert_id, request.subject):
            yield pb.WatchAlertsResponse(alert=convert.alert(alert))
