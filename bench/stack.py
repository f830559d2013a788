"""The services as `make dev` runs them: PostgreSQL, the devnet if needed, then each service.

Environment per service comes from tools/dev.py (the deployment conventions), so a new
service, or a new variable, needs no change here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.context import ROOT, Context
from bench.db import database
from bench.procs import ServiceProcess, service_process
from devnet.state import DevnetState
from tools.dev import ORDER, Service, running_devnet, service_env
from zerog_db.cluster import free_port

NEEDS_NO_DEVNET = frozenset({"quota"})


@dataclass
class Stack:
    """What started (by name), what did not (name -> why), and the devnet's state."""

    services: dict[str, ServiceProcess] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    devnet: DevnetState | None = None
    dsn: str = ""
    """The stack's database (every service's schema)."""


def present() -> list[str]:
    """Services of this checkout that can start as a process, in dependency order."""
    return [n for n in ORDER if (ROOT / "services" / n / "__main__.py").exists()]


@contextlib.contextmanager
def _devnet(scratch: Path, wanted: bool) -> Iterator[Path | None]:
    if not wanted:
        yield None
        return
    # The devnet prints its addresses; keep stdout for the results table.
    with contextlib.redirect_stdout(sys.stderr), running_devnet(scratch) as devnet:
        yield devnet.path


@contextlib.contextmanager
def running_stack(
    ctx: Context, names: list[str], extra_env: Mapping[str, Mapping[str, str]] | None = None
) -> Iterator[Stack]:
    """Start `names` in order (each SERVING before the next); everything stopped after.

    `extra_env` adds variables per service name (e.g. the scheduler's INFERENCE_MODEL)."""
    stack = Stack()
    plan = [Service(n, free_port(), free_port()) for n in names]
    with database(ctx, "bench_stack") as dsn, contextlib.ExitStack() as running:
        stack.dsn = dsn
        need_devnet = any(n not in NEEDS_NO_DEVNET for n in names)
        devnet = running.enter_context(_devnet(ctx.scratch, need_devnet))
        if devnet is not None:
            stack.devnet = DevnetState.load(devnet)
        for service in plan:
            if devnet is not None:
                # The bench's own keys (service_process), not the development ones.
                dev = service_env(service, plan, dsn, devnet)
                env = {k: v for k, v in dev.items() if not k.startswith("AUTH_")}
            else:
                addresses = {f"{s.name.upper()}_ADDRESS": s.address for s in plan}
                env = {"DATABASE_URL": dsn, **addresses}
            env = {**env, **(extra_env or {}).get(service.name, {})}
            try:
                stack.services[service.name] = running.enter_context(
                    service_process(service.name, env, ctx.scratch, port=service.port)
                )
            except RuntimeError as e:
                stack.failed[service.name] = str(e)
        yield stack
