"""What the RPC modules share: the parts they call."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.storage.backups import Backups
from services.storage.puts import PutFlow
from services.storage.reads import ReadFlow
from services.storage.remote import QuotaClient
from zerog_db import Once
from zerog_grpc import Clock


@dataclass(frozen=True)
class Deps:
    """The parts the handlers call. `uploading` is the Once of calls that upload (PutObject,
    RecoverObject): a short lease, renewed while they run, frees a dead replica's claim soon."""

    pool: asyncpg.Pool
    once: Once
    uploading: Once
    puts: PutFlow
    reads: ReadFlow
    backups: Backups
    max_object_bytes: int
    max_replicas: int
    global_jobs: frozenset[str]
    clock: Clock
    quota: QuotaClient | None = None
