"""Resident memory of services: at idle, sampled while a benchmark loads them, and as rows.

One place for how memory is measured: VmRSS of the service's process plus every process it
started (e.g. a worker pool), read from /proc, every 100 ms in a thread while the load runs.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from bench.model import Measurement, Row

INTERVAL = 0.1
HOW = "VmRSS of the process and its children"


def _vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return 0  # a child that exited between listing and reading
    return 0  # a zombie has no VmRSS


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                children = [int(c) for c in task.read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
            found += children
            todo += children
    return found


def tree_rss_mib(pid: int) -> float:
    """Resident memory in MiB of `pid` and all its descendants."""
    return sum(_vm_rss_kib(p) for p in [pid, *_descendants(pid)]) / 1024


def idle_mib(pid: int, samples: int, settle: float, interval: float = 0.2) -> list[float]:
    """`samples` readings after `settle` seconds (start-up garbage collected, caches warm)."""
    time.sleep(settle)
    values = []
    for _ in range(samples):
        values.append(tree_rss_mib(pid))
        time.sleep(interval)
    return values


class Sampler:
    """`with Sampler({name: pid}) as s:` samples every process tree until the block ends.

    It may be entered again: samples of every `with` block add up (e.g. only while ours runs
    when several paths take turns)."""

    def __init__(self, pids: Mapping[str, int], interval: float = INTERVAL) -> None:
        self.pids = dict(pids)
        self.samples: dict[str, list[float]] = {name: [] for name in pids}
        self._interval = interval
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _take(self) -> None:
        for name, pid in self.pids.items():
            self.samples[name].append(tree_rss_mib(pid))

    def _run(self) -> None:
        self._take()
        while not self._done.wait(self._interval):
            self._take()

    def __enter__(self) -> Sampler:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()
        self._take()  # the last word: memory still held right after the load


def under_load_row(
    service: str, under: str, idle: list[float], load: list[float], what: str
) -> Row:
    """'memory: <service> under <under> (RSS)': median / peak while loaded, idle in the notes."""
    idle_median, peak = statistics.median(idle), max(load)
    return Row(
        f"memory: {service} under {under} (RSS)",
        "MiB",
        Measurement(f"{service} (1 process)", statistics.median(load), peak, len(load)),
        higher_is_better=False,
        notes=[
            f"idle {idle_median:.1f} MiB -> peak {peak:.1f} MiB under load "
            f"(+{peak - idle_median:.1f} MiB); ours column: median / peak while loaded",
            f"load: {what}",
            f"{HOW}, every {INTERVAL * 1000:.0f} ms",
            "no peer",
        ],
    )
