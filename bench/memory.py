"""Memory per service at idle: RSS of `python -m services.<svc>` once it is SERVING.

Under load is measured where the load is (bench.rss.Sampler in the quota, gateway, scheduler
and storage benchmarks); this module only has the idle rows of every service.

Every services/<svc>/__main__.py is picked up (a new service appears here by itself), started
as `make dev` starts it (bench.stack). A service that cannot start gets a row saying why.
"""

from __future__ import annotations

import statistics

from bench.context import Context
from bench.model import Measurement, Row
from bench.procs import ServiceProcess
from bench.report import Section
from bench.rss import HOW, idle_mib
from bench.stack import NEEDS_NO_DEVNET, present, running_stack

SETTLE_SECONDS = 2.0
UNDER_LOAD = (
    "under load: the 'memory: <service> under ...' rows of the quota, gateway, scheduler and "
    "storage benchmarks, each with its own idle reading"
)


def _idle_rss(service: ServiceProcess, samples: int, settle: float) -> Measurement:
    values = idle_mib(service.process.pid, samples, settle)
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
            note = f"after SERVING + 2 s; median / max of samples; {HOW}; no peer"
            rows.append(
                Row(
                    f"memory: {name} at idle (RSS)",
                    "MiB",
                    rss,
                    higher_is_better=False,
                    notes=[note, UNDER_LOAD],
                )
            )
    skipped = sorted(set(everything) - set(names))
    if skipped:
        note = f"not started at smoke-test size: {', '.join(skipped)}"
        rows.append(Row("memory: other services", "MiB", None, notes=[note]))
    return rows
