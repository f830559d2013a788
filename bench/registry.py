"""The benchmarks, one module each; a module's `run(ctx)` returns rows and sections.

Adding one: write bench/<name>.py with `def run(ctx: Context) -> list[Row | Section]` and
list it here. Order is the order of docs/benchmarks.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from bench.context import Context
from bench.model import Row
from bench.report import Section

Result = list[Row | Section]
Benchmark = Callable[[Context], Result]

BENCHMARKS: dict[str, str] = {
    "signing": "bench.signing",
    "merkle": "bench.merkle",
    "quota": "bench.quota",
    "gateway": "bench.gateway",
    "storage": "bench.storage",
    "scheduler": "bench.scheduler",
    "memory": "bench.memory",
}


def load(name: str) -> Benchmark:
    """The run function of benchmark `name`."""
    module = importlib.import_module(BENCHMARKS[name])
    return cast(Benchmark, module.run)
