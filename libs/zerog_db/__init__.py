"""Database helpers shared by the services: the pool, migrations, idempotency, a test cluster."""

from zerog_db.migrate import Migration, MigrationError, load_migrations, migrate
from zerog_db.once import Alongside, Claim, Once, Request, RequestIdReused, RequestInProgress
from zerog_db.pool import CONNECTION_ERRORS, Connection, Executor, create_pool, wait_for_database

__all__ = [
    "CONNECTION_ERRORS",
    "Alongside",
    "Claim",
    "Connection",
    "Executor",
    "Migration",
    "MigrationError",
    "Once",
    "Request",
    "RequestIdReused",
    "RequestInProgress",
    "create_pool",
    "load_migrations",
    "migrate",
    "wait_for_database",
]
