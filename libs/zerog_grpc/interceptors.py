"""RED metrics per RPC, installed by every server (errors are mapped in errormap.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from zerog_grpc.handlers import Context, WrappingInterceptor

log = logging.getLogger(__name__)


class ServerMetrics(WrappingInterceptor):
    """Rate, errors and duration for every RPC, by service, method and status code."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_service", "grpc_method"]
        self.started = Counter(
            "zerog_grpc_server_started_total", "RPCs started.", labels, registry=registry
        )
        self.handled = Counter(
            "zerog_grpc_server_handled_total",
            "RPCs completed, by code.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.seconds = Histogram(
            "zerog_grpc_server_handling_seconds",
            "RPC handling time.",
            labels,
            registry=registry,
            buckets=(
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
                30,
            ),
        )

    def _labels(self, method: str) -> tuple[str, str]:
        _, service, name = method.split("/", 2)
        return service, name

    def _done(
        self,
        labels: tuple[str, str],
        context: Context,
        started: float,
        failed: BaseException | None,
    ) -> None:
        code = context.code() if failed is not None else None
        if isinstance(code, grpc.StatusCode):
            name = code.name
        elif failed is None:
            name = "OK"
        else:
            name = (
                "CANCELLED"
                if isinstance(failed, BaseException) and not isinstance(failed, Exception)
                else "UNKNOWN"
            )
        self.handled.labels(*labels, name).inc()
        self.seconds.labels(*labels).observe(time.perf_counter() - started)

    @asynccontextmanager
    async def around(
        self, method: str, request: Any, context: Context, *, streaming: bool
    ) -> AsyncIterator[None]:
        labels = self._labels(method)
        self.started.labels(*labels).inc()
        started = time.perf_counter()
        try:
            yield
        except BaseException as error:
            self._done(labels, context, started, error)
            raise
        self._done(labels, context, started, None)
