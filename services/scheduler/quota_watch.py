"""Follows the quota service's WatchAlerts stream and turns each alert into a notification.

Every replica watches; quota_alerts.record() keeps each alert to one notification. A broken or
refused stream is reopened with capped exponential backoff, resuming after the last stored id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC

import asyncpg
import grpc
import grpc.aio

from services.scheduler import quota_alerts
from services.scheduler.model import QuotaAlert
from services.scheduler.store.quota_alerts import last_alert_id
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_db import CONNECTION_ERRORS
from zerog_grpc import TokenMinter, service_channel
from zerog_grpc.clock import Clock, monotonic

log = logging.getLogger(__name__)


def from_pb(alert: qpb.Alert) -> QuotaAlert:
    """quota's Alert with its enums as the lower-case names quota stores."""
    return QuotaAlert(
        alert.alert_id,
        alert.subject,
        qpb.Unit.Name(alert.unit).removeprefix("UNIT_").lower(),
        qpb.AlertLevel.Name(alert.level).removeprefix("ALERT_LEVEL_").lower(),
        alert.period,
        alert.used,
        alert.limit,
        alert.create_time.ToDatetime(tzinfo=UTC),
    )


class QuotaAlertWatcher:
    """A background task holding one WatchAlerts stream open."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        address: str,
        minter: TokenMinter,
        clock: Clock,
        backoff: tuple[float, float],
        on_notified: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self._minter = minter
        self._clock = clock
        self._base, self._cap = backoff
        self._on_notified = on_notified
        # The channel's own reconnect backoff follows ours, so a restarted quota is found soon.
        self._channel = service_channel(
            address,
            [
                ("grpc.initial_reconnect_backoff_ms", int(self._base * 1000)),
                ("grpc.min_reconnect_backoff_ms", int(self._base * 1000)),
                ("grpc.max_reconnect_backoff_ms", int(self._cap * 1000)),
            ],
        )
        self._stub = quota_service_pb2_grpc.QuotaServiceStub(self._channel)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._call: (
            grpc.aio.UnaryStreamCall[qpb.WatchAlertsRequest, qpb.WatchAlertsResponse] | None
        ) = None

    @property
    def connected(self) -> bool:
        """Whether a stream is open on a ready connection."""
        return (
            self._call is not None
            and not self._call.done()
            and self._channel.get_state() is grpc.ChannelConnectivity.READY
        )

    def start(self) -> None:
        """Watch in the background until stop()."""
        self._task = asyncio.create_task(self._run(), name="quota-alert-watch")

    async def stop(self) -> None:
        """End the stream and the task, then close the channel."""
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._channel.close()

    async def _run(self) -> None:
        delay = self._base
        while not self._stop.is_set():
            opened = monotonic()
            try:
                await self._watch()
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.CANCELLED or not self._stop.is_set():
                    log.warning(
                        "quota alert stream unavailable, reconnecting",
                        extra={"code": error.code().name, "retry_seconds": delay},
                    )
            except CONNECTION_ERRORS as error:
                log.warning("database unavailable", extra={"error": type(error).__name__})
            except Exception:
                log.exception("quota alert watch failed")
            if monotonic() - opened > self._cap:
                delay = self._base  # it was up for a while: a new outage, not a failing one
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
            delay = min(delay * 2, self._cap)

    async def _watch(self) -> None:
        """One stream, from the last stored alert on, until it ends or fails."""
        after = await last_alert_id(self._pool)
        self._call = self._stub.WatchAlerts(
            qpb.WatchAlertsRequest(after_alert_id=after),
            metadata=self._minter.metadata("quota"),
        )
        log.info("watching quota alerts", extra={"after_alert_id": after})
        async for response in self._call:
            alert = from_pb(response.alert)
            outcome = await quota_alerts.record(self._pool, alert, self._clock())
            if outcome == "notified":
                self._on_notified()
            log.info(
                "quota alert",
                extra={"alert_id": alert.alert_id, "outcome": outcome or "already stored"},
            )
