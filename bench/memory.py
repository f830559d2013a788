"""Memory per service at idle: RSS of `python -m services.<svc>` once it is SERVING.

Every services/<svc>/__main__.py is picked up (a new service appears here by itself). They
start in dependency order with the environment `make dev` gives them (tools/dev.py: one
database, the devnet's state and RPC, each other's addresses); the devnet is started only
when a service other than quota is present. A service that cannot start gets a row saying
why instead of a number.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.context import Context
from bench.db import database
from bench.model import Measurement, Row
from bench.procs import JWT_SECRET, ServiceProcess, rss_mib, service_process
from bench.report import Section
from tools.dev import ORDER, Service, running_devnet, service_env
from zerog_db.cluster import free_port

SETTLE_SECONDS = 2.0
NEEDS_NO_DEVNET = {"quota"}


def _idle_rss(service: ServiceProcess, samples: int, settle: float) -> Measurement:
    time.sleep(settle)  # let start-up garbage be collected and caches settle
    values = []
    for _ in range(samples):
        values.append(rss_mib(service.process.pid))
        time.sleep(0.2)
    return Measurement(
        f"{service.name} (1 process)", statistics.median(values), max(values), samples
    )


@contextlib.contextmanager
def _devnet(scratch: Path, wanted: bool) -> Iterator[Path | None]:
    if not wanted:
        yield None
        return
    with contextlib.redirect_stdout(sys.stderr), running_devnet(scratch) as devnet:
        yield devnet.path


def run(ctx: Context) -> list[Row | Section]:
    """One row per service, ours only (no peer runs our services)."""
    present = [
        n for n in ORDER if (Path(__file__).parents[1] / "services" / n / "__main__.py").exists()
    ]
    names = [n for n in present if n in NEEDS_NO_DEVNET] if ctx.tiny else present
    stack = [Service(n, free_port(), free_port()) for n in names]
    rows: list[Row | Section] = []
    with database(ctx, "bench_services") as dsn, contextlib.ExitStack() as running:
        devnet = running.enter_context(
            _devnet(ctx.scratch, any(n not in NEEDS_NO_DEVNET for n in names))
        )
        for service in stack:
            if devnet is not None:
                env = service_env(service, stack, dsn, JWT_SECRET, devnet)
            else:
                env = {
                    "DATABASE_URL": dsn,
                    **{f"{s.name.upper()}_ADDRESS": s.address for s in stack},
                }
            try:
                started = running.enter_context(
                    service_process(service.name, env, ctx.scratch, port=service.port)
                )
            except RuntimeError as e:
                rows.append(
                    Row(
                        f"memory: {service.name} at idle",
                        "MiB",
                        None,
                        notes=[f"did not start: {e}"[:400]],
                    )
                )
                continue
            rows.append(
                Row(
                    f"memory: {service.name} at idle (RSS)",
                    "MiB",
                    _idle_rss(started, ctx.pick(5, 3, 1), SETTLE_SECONDS if not ctx.tiny else 0.2),
                    higher_is_better=False,
                    notes=["after SERVING + 2 s; median / max of samples; no peer"],
                )
            )
    skipped = sorted(set(present) - set(names))
    if skipped:
        rows.append(
            Row(
                "memory: other services",
                "MiB",
                None,
                notes=[f"not started in this mode: {', '.join(skipped)}"],
            )
        )
    return rows
