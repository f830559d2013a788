"""`python -m services.<svc> migrate`: needs only the database, none of the other settings."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from zerog_db import MigrationError, migrate, wait_for_database
from zerog_grpc.jsonlog import setup_logging
from zerog_grpc.settings import ConfigError, Env


def run_migrate_command(service: str, schema: str, directory: Path) -> None:
    """Apply `schema`'s migrations to DATABASE_URL (or DATABASE_URL_FILE), or exit saying why.

    A Kubernetes migration Job or initContainer then needs no wallet, peer addresses or chain.
    """
    setup_logging(service, os.environ.get("LOG_LEVEL", "INFO").upper())
    try:
        database_url = Env(os.environ).secret("DATABASE_URL")
    except ConfigError as error:
        sys.exit(f"{service}: configuration error: {error}")
    try:
        applied = asyncio.run(_migrate(database_url, schema, directory))
    except MigrationError as error:
        sys.exit(f"{service}: migration refused: {error}")
    logging.getLogger(f"services.{service}").info("migrations applied", extra={"count": applied})


async def _migrate(database_url: str, schema: str, directory: Path) -> int:
    await wait_for_database(database_url)
    return await migrate(database_url, schema, directory)
