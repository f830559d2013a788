"""Drive the official 0G storage TS SDK (unchanged) through tests/conformance's node script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devnet.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "tests" / "conformance" / "storage_sdk_roundtrip.mjs"
HAS_NODE = shutil.which("node") is not None


def run_sdk(*args: str) -> dict[str, Any]:
    """Run the script; its RESULT line as a dict (asserting the SDK reported no error)."""
    done = subprocess.run(
        ["node", str(SCRIPT), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, f"SDK printed no result:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(results[-1].removeprefix("RESULT "))
    assert "error" not in result, f"{result['error']}\n{done.stdout[-3000:]}"
    assert done.returncode == 0
    return result


def sdk_download(indexer_url: str, rpc_url: str, root: str, out: Path) -> bytes:
    """Download `root` with the SDK (its own proof flag on) and return the bytes written."""
    run_sdk("download", indexer_url, rpc_url, "", "", str(out), root)
    return out.read_bytes()


def sdk_upload(indexer_url: str, rpc_url: str, key: str, source: Path, out: Path) -> dict[str, Any]:
    """Upload `source` with the SDK paying its own Flow submit; it downloads it back to `out`."""
    return run_sdk("upload", indexer_url, rpc_url, key, str(source), str(out))
