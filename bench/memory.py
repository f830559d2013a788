"""Memory per service at idle: RSS of `python -m services.<svc>` once it is SERVING.

Every services/<svc>/__main__.py is picked up (a new service appears here by itself), started
as `make dev` starts it (bench.stack). A service that cannot start gets a row saying why.
"""

from __future__ import annotations

import statistics
import time

from bench.context import Context
from bench.model import Measurement, Row
from bench.procs import ServiceProcess, rss_mib
from bench.report import Section
from bench.stack import NEEDS_NO_DEVNET, present, running_stack

SETTLE_SECONDS = 2.0


def _idle_rss(service: ServiceProcess, samples: int, settle: float) -> Measurement:
    time.sleep(settle)  # let start-up garbage be collected and caches settle
    values = []
    for _ in range(samples):
        values.append(rss_mib(service.process.pid))
        time.sleep(0.2)
    label = f"{service.name} (1 process)"
    return Measurement(label, statistics.median(values), max(values), samples)


def run(ctx: Context) -> list[Row | Section]:
    """One row per service, ours only (no peer runs our services)."""
    everything = present()
    names = [n for n in everything if n in NEEDS_NO_DEVNET] if ctx.tiny else everything
    rows: list[Row | Section] = []
    with running_stack(ctx, names) as stack:
        for name in names:
            if name in stack.failed:
                why = f"did not start: {stack.failed[name]}"[:400]
                rows.append(Row(f"memory: {name} at idle", "MiB", None, notes=[why]))
                continue
            rss = _idle_rss(
                stack.services[name], ctx.pick(5, 3, 1), 0.2 if ctx.tiny else SETTLE_SECONDS
            )
            note = "after SERVING + 2 s; median / max of samples; no peer"
            rows.append(
                Row(
                    f"memory: {name} at idle (RSS)",
                    "MiB",
                    rss,
                    higher_is_better=False,
                    notes=[note],
                )
            )
    skipped = sorted(set(everything) - set(names))
    if skipped:
        note = f"not started at smoke-test size: {', '.join(skipped)}"
        rows.append(Row("memory: other services", "MiB", None, notes=[note]))
    return rows
