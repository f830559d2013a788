"""python -m services.quota [serve|migrate]: the quota service's only composition root."""

from pathlib import Path

from services.quota import server
from services.quota.config import Config
from zerog_grpc import run_service

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "quota"

if __name__ == "__main__":
    run_service(SCHEMA, Config.from_env, server.start, MIGRATIONS)
