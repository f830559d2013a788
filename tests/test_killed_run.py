"""A test run that is killed leaves nothing running: the throwaway PostgreSQL, anvil and every
other process its fixtures started stop with it, whether pytest is killed with SIGKILL (no
finalizer runs), SIGTERM, or is an xdist controller whose workers are left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# Runs inside the killed pytest (or its xdist worker): records the processes the session
# fixtures started, then waits to be killed.
HOLDER = """
import os
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listed:
            found += [int(child) for child in listed.read().split()]
    return found


def test_hold(postgres_url: str, running_devnet: object) -> None:
    tree, todo = [], _children(os.getpid())
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += _children(pid)
    Path(os.environ["HOLDER_PIDS"]).write_text(" ".join(map(str, tree)))
    time.sleep(600)
"""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a dead child its new parent has not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("how", "options"),
    [(signal.SIGKILL, []), (signal.SIGTERM, []), (signal.SIGKILL, ["-n", "1"])],
    ids=["sigkill", "sigterm", "sigkill-xdist-controller"],
)
def test_a_killed_run_leaves_no_process_behind(
    tmp_path: Path, how: signal.Signals, options: list[str]
) -> None:
    holder = tmp_path / "test_holder.py"
    holder.write_text(HOLDER)
    pids_file = tmp_path / "pids"
    env = {**os.environ, "HOLDER_PIDS": str(pids_file)}
    env.pop("TEST_DATABASE_URL", None)  # the run must start its own cluster
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(ROOT),
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            *options,
            str(holder),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while not pids_file.exists() or not pids_file.read_text():
            assert run.poll() is None, "the held run exited before starting its fixtures"
            assert time.monotonic() < deadline, "the held run never started its fixtures"
            time.sleep(0.1)
        started = [int(pid) for pid in pids_file.read_text().split()]
        commands = {pid: _command(pid) for pid in started}
        assert any("postgres" in c for c in commands.values()), commands
        assert any("anvil" in c for c in commands.values()), commands

        run.send_signal(how)
        run.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (left := [p for p in started if _running(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], {pid: commands[pid] for pid in left}
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pid in started:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
