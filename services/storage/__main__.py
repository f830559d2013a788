"""python -m services.storage [serve|migrate]: the storage service's only composition root."""

from pathlib import Path

from services.storage import server
from services.storage.config import Config
from zerog_grpc import run_service

MIGRATIONS = Path(__file__).parent / "migrations"

if __name__ == "__main__":
    run_service("storage", Config.from_env, server.start, MIGRATIONS)
