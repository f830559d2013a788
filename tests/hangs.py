"""What a hung test leaves behind: where every thread and every asyncio task was waiting.

pytest-timeout's thread method prints the threads' stacks to the terminal writer and ends the
process. That is not enough here: a hung test is nearly always an await, and the main thread's
stack then only shows the event loop in select(); and under xdist a worker's terminal writer
goes to /dev/null, so the dump was lost. This one writes to stderr (which xdist workers share
with the controller) and adds each pending task's coroutine stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import traceback
from typing import Any

import pytest


def dump_and_exit(item: pytest.Item, timeout: float) -> None:
    """Print the captured output, every thread's and task's stack, then end the process."""
    try:
        capture: Any = item.config.pluginmanager.getplugin("capturemanager")
        captured = ("", "")
        if capture is not None:
            capture.suspend_global_capture(item)
            captured = capture.read_global_capture()
        out = sys.stderr
        out.write(f"\n{'+' * 30} Timeout {'+' * 30}\n")
        out.write(f"{item.nodeid} still running after {timeout:g} s (pytest timeout)\n")
        for name, text in zip(("stdout", "stderr"), captured, strict=True):
            if text:
                out.write(f"{'~' * 20} captured {name}\n{text}\n")
        write_stacks(out)
        out.write(f"{'+' * 30} Timeout {'+' * 30}\n")
    except Exception:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(1)


def write_stacks(out: Any) -> None:
    """Every other thread's stack, then every pending asyncio task's coroutine stack."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    current = threading.get_ident()
    for ident, frame in sys._current_frames().items():
        if ident != current:
            out.write(f"{'~' * 20} thread {names.get(ident, '?')} ({ident})\n")
            out.write("".join(traceback.format_stack(frame)))
    # The running loop belongs to the hung thread, so its tasks are found through the GC.
    for task in [o for o in gc.get_objects() if isinstance(o, asyncio.Task)]:
        if not task.done():
            out.write(f"{'~' * 20} task {task.get_name()} (outermost first)\n")
            out.write("".join(_await_chain(task.get_coro())))


def _await_chain(awaitable: object) -> list[str]:
    """Where a coroutine waits, through every coroutine and async generator it awaits."""
    lines: list[str] = []
    while awaitable is not None:
        frame = _first(awaitable, ("cr_frame", "ag_frame", "gi_frame"))
        if frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}\n')
        awaitable = _first(awaitable, ("cr_await", "ag_await", "gi_yieldfrom"))
    return lines


def _first(obj: object, names: tuple[str, ...]) -> Any:
    return next((v for name in names if (v := getattr(obj, name, None)) is not None), None)


def set_timer(item: pytest.Item, timeout: float) -> None:
    """Arm the dump for `item`; pytest-timeout's cancel hook disarms it."""
    timer = threading.Timer(timeout, dump_and_exit, (item, timeout))
    timer.name = f"timeout {item.nodeid}"
    timer.daemon = True
    timer.start()

    def cancel() -> None:
        timer.cancel()
        timer.join()

    # The attribute pytest-timeout's own cancel hook calls.
    item.cancel_timeout = cancel  # type: ignore[attr-defined]
