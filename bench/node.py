"""Run a peer's Node.js script from bench/peers with a JSON input and read its JSON output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.context import ROOT, Context

PEERS = Path(__file__).resolve().parent / "peers"


class PeerUnavailable(RuntimeError):
    """The peer cannot run here (no node, no SDK in node_modules); the row says so."""


def run_node(ctx: Context, script: str, payload: dict[str, Any], timeout: float) -> Any:
    """node bench/peers/<script> <input.json>; its stdout parsed as JSON."""
    if ctx.node is None:
        raise PeerUnavailable("node is not installed")
    if not (ROOT / "node_modules" / "ethers").exists():
        raise PeerUnavailable("node_modules is missing: run make install")
    source = ctx.scratch / f"{script}.input.json"
    source.write_text(json.dumps(payload))
    try:
        done = subprocess.run(
            [ctx.node, str(PEERS / script), str(source)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        source.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)
