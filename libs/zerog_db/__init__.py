"""Database helpers shared by the services: the pool, migrations and a throwaway cluster."""

from zerog_db.migrate import Migration, MigrationError, load_migrations, migrate
from zerog_db.pool import CONNECTION_ERRORS, Connection, Executor, create_pool, wait_for_database

__all__ = [
    "CONNECTION_ERRORS",
    "Connection",
    "Executor",
    "Migration",
    "MigrationError",
    "create_pool",
    "load_migrations",
    "migrate",
    "wait_for_database",
]
