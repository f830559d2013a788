"""LiteLLM proxy (PyPI litellm[proxy], pinned, own venv) in front of one OpenAI-style endpoint."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.peers import peer_python
from zerog_db.cluster import free_port

REQUIREMENTS = ["litellm[proxy]==1.106.2"]
LABEL = "LiteLLM 1.106.2 proxy, 1 worker"


@contextmanager
def litellm_proxy(
    scratch: Path, endpoint: str, model: str, api_key: str, timeout: float = 120.0
) -> Iterator[tuple[str, str]]:
    """(base url, master key) of a running proxy routing model `bench` to `endpoint`."""
    python = peer_python("litellm", REQUIREMENTS)
    config = scratch / "litellm.json"  # YAML is a superset of JSON
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "bench",
                        "litellm_params": {
                            "model": f"openai/{model}",
                            "api_base": endpoint,
                            "api_key": api_key,
                        },
                    }
                ]
            }
        )
    )
    port, master = free_port(), "sk-bench-" + secrets.token_hex(24)
    log = scratch / "litellm.log"
    env = {**os.environ, "LITELLM_MASTER_KEY": master, "LITELLM_LOG": "ERROR"}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # offline: no cost map download
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(python.parent / "litellm"),
                "--config",
                str(config),
                "--port",
                str(port),
                "--num_workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"litellm exited: {log.read_text()[-1500:]}")
            try:
                if httpx.get(f"{base}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"litellm not ready: {log.read_text()[-1500:]}")
            time.sleep(0.5)
        yield base, master
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
