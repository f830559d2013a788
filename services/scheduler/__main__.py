"""python -m services.scheduler [serve|migrate]: the scheduler's only composition root."""

from pathlib import Path

from services.scheduler import server
from services.scheduler.config import Config
from zerog_grpc import run_service

MIGRATIONS = Path(__file__).parent / "migrations"

if __name__ == "__main__":
    run_service("scheduler", Config.from_env, server.start, MIGRATIONS)
