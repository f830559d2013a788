"""py-spy profiles where ours misses a bar, summarised as markdown for docs/benchmarks.md.

py-spy samples without touching the code: a running service by pid, or a snippet in a child
python. The summary lists functions by share of samples, both where the time is spent
(self: the leaf frame) and what it is spent under (total: anywhere on the stack).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.context import ROOT

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def available() -> bool:
    """py-spy is installed (a dev dependency) next to this python."""
    return _py_spy() is not None


def _py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    return f"{match['func']} ({Path(match['file']).name})"


def summarize(raw: str, top: int = 8, under: str | None = None) -> str:
    """Markdown lists of the top functions by self and by total share of samples.

    With `under`, only stacks through a function of that name count (start-up and imports
    of the profiled child then stay out of the shares).
    """
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        if not frames or (under and not any(f.startswith(under + " (") for f in frames)):
            continue
        samples += count
        own[frames[-1]] += count
        for name in set(frames):
            total[name] += count
    if not samples:
        return "(no samples)"

    # Frames on every sample are the harness (event loop, the loop calling the code): noise.
    inner = Counter({name: n for name, n in total.items() if n < samples})

    def listing(counter: Counter[str]) -> str:
        return "\n".join(
            f"  - {100 * n / samples:.0f}% `{name}`" for name, n in counter.most_common(top)
        )

    return (
        f"{samples} samples.\n\n- self (where the time is spent):\n{listing(own)}\n"
        f"- total (what it is spent under):\n{listing(inner)}"
    )


def record_pid(
    pid: int, seconds: float, out: Path, native: bool = False
) -> subprocess.Popen[bytes]:
    """Start sampling a running process for `seconds`; wait on the result, then read_raw(out)."""
    py_spy = _py_spy()
    if py_spy is None:
        raise RuntimeError("py-spy is not installed (make install)")
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    if native:
        command.append("--native")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def read_raw(out: Path) -> str:
    """The collapsed stacks py-spy wrote (empty if it could not sample)."""
    return out.read_text() if out.exists() else ""


def profile_snippet(
    code: str, scratch: Path, name: str, under: str | None = None, native: bool = True
) -> str:
    """Run `code` in a child python under py-spy; the summary (see summarize for `under`).

    `native` includes C frames (keccak, libsecp256k1), which is where these hot paths live.
    """
    py_spy = _py_spy()
    if py_spy is None:
        return "py-spy is not installed (make install)"
    out = scratch / f"{name}.profile.txt"
    subprocess.run(
        [
            py_spy,
            "record",
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(out),
            "--",
            sys.executable,
            "-c",
            code,
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=600,
    )
    return summarize(read_raw(out), under=under)
