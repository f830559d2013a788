"""Child processes that never outlive the devnet: own process group, SIGKILLed if we die."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO

# util-linux's setpriv (essential on Debian/Ubuntu) sets the parent-death signal and then execs
# the command. Doing it ourselves needs a preexec_fn, which forces a plain fork() that runs
# every at-fork handler in the child, including gRPC's, which can abort it when the parent has
# gRPC threads running (seen as "epoll_wait error: Bad file descriptor" and SIGABRT).
_SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None


def dies_with_parent(args: Sequence[str]) -> list[str]:
    """`args` behind setpriv, so the child is SIGKILLed when the thread that starts it exits.

    For children started some other way (asyncio subprocesses in tests); spawn() uses it.
    """
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *args] if _SETPRIV else list(args)


def spawn(
    args: Sequence[str],
    *,
    stdout: IO[bytes] | int = subprocess.DEVNULL,
    stderr: IO[bytes] | int = subprocess.DEVNULL,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts `args` in its own session and process group, with a parent-death signal.

    The parent-death signal fires when the *thread* that called spawn exits, so call it from a
    thread that lives as long as the child should (the main thread, in practice).
    """
    return subprocess.Popen(
        dies_with_parent(args),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=env,
        # A terminal's Ctrl-C then reaches only us, so we stop children in order, and
        # terminate() can signal the child's whole group.
        start_new_session=True,
    )


def terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM to the child's process group, SIGKILL after `timeout` s; always reaps it."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
