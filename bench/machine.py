"""What this machine is: CPU, cores, RAM, Python and Node versions, date."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    """The facts printed above the table, so numbers are read against the right hardware."""

    cpu: str
    cores: int
    ram_gib: float
    python: str
    node: str
    os: str
    date: str
    load: str = ""  # 1-minute load average at the start and end of the run


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "absent"
    done = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def load_average() -> float:
    """The 1-minute load average: other work on a shared machine shows here."""
    return os.getloadavg()[0]


def describe() -> Machine:
    """The machine the benchmarks run on now."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        ram_gib=_ram_gib(),
        python=platform.python_version(),
        node=_node_version(),
        os=f"{platform.system()} {platform.release()}",
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
