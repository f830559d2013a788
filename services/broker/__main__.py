"""python -m services.broker [serve|migrate]: the broker's only composition root."""

from pathlib import Path

from services.broker import server
from services.broker.config import Config
from zerog_chain import ChainError
from zerog_grpc import run_service

MIGRATIONS = Path(__file__).parent / "migrations"

if __name__ == "__main__":
    # A chain that cannot be reached or serves another chain id stops start-up with its reason.
    run_service("broker", Config.from_env, server.start, MIGRATIONS, startup_errors=(ChainError,))
