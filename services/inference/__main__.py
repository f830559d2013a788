"""python -m services.inference [serve|migrate]: the inference service's only composition root."""

from __future__ import annotations

from pathlib import Path

from services.inference import server
from services.inference.config import Config
from zerog_grpc import run_service

MIGRATIONS = Path(__file__).parent / "migrations"

if __name__ == "__main__":
    run_service("inference", Config.from_env, server.start, MIGRATIONS)
