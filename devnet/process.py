"""Child processes that never outlive the devnet: own process group, SIGKILLed if we die."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import IO

_PR_SET_PDEATHSIG = 1
# Resolved here, in the parent: the child must not dlopen between fork and exec, where another
# thread's loader lock could be held forever.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec (Linux): SIGKILL it when the parent dies."""
    assert _prctl is not None
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl took effect; then nobody would kill us.
    if os.getppid() != parent_pid:
        os._exit(1)


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
    parent = os.getpid()
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=env,
        # A terminal's Ctrl-C then reaches only us, so we stop children in order, and
        # terminate() can signal the child's whole group.
        start_new_session=True,
        preexec_fn=(lambda: _die_with_parent(parent)) if _prctl is not None else None,
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
