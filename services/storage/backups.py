"""Backups: verify every replica of stored content, repair from good copies, apply retention."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.storage.model import VerifyState
from services.storage.store import contents, namespaces, objects
from services.storage.store.contents import Content
from zerog_db import Executor
from zerog_grpc import Clock
from zerog_storage import DataLost, Downloader, ReplicaReport, Uploader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckOutcome:
    """What one check of a content found; after a recovery, the check of the refilled copies
    and how many segments it restored."""

    state: VerifyState
    detail: str
    segments_restored: int = 0


def _judge(content: Content, report: ReplicaReport) -> CheckOutcome:
    if report.lost:
        return CheckOutcome(VerifyState.LOST, report.problems())
    if hashlib.sha256(report.data()).digest() != content.sha256:
        return CheckOutcome(VerifyState.LOST, "bytes proving against the root fail the SHA-256")
    if not report.healthy(content.replicas):
        return CheckOutcome(
            VerifyState.DEGRADED,
            f"{report.min_good} of {content.replicas} good copies; {report.problems()}",
        )
    return CheckOutcome(VerifyState.VERIFIED, "")


@dataclass(frozen=True)
class Backups:
    """The verification job, RecoverObject and retention."""

    pool: asyncpg.Pool
    downloader: Downloader
    uploader: Uploader
    clock: Clock

    async def _report(self, content: Content) -> ReplicaReport | CheckOutcome:
        try:
            return await self.downloader.check(content.root, content.size, content.tx_seq)
        except DataLost as e:
            return CheckOutcome(VerifyState.LOST, str(e))

    async def check(self, content: Content) -> CheckOutcome:
        """Verify every copy of one content and record the outcome."""
        report = await self._report(content)
        outcome = report if isinstance(report, CheckOutcome) else _judge(content, report)
        await self._record(content, outcome)
        if outcome.state is not VerifyState.VERIFIED:
            log.warning(
                "content flagged",
                extra={"root": "0x" + content.root.hex(), "state": outcome.state.value},
            )
        return outcome

    async def run(
        self, namespace: str | None, older_than: timedelta | None, limit: int
    ) -> list[tuple[Content, CheckOutcome]]:
        """One verification pass over contents not checked within `older_than`."""
        before = None if older_than is None else self.clock() - older_than
        due = await contents.due_for_check(self.pool, namespace, before, limit)
        return [(content, await self.check(content)) for content in due]

    async def recover(self, content: Content, request_id: str) -> CheckOutcome:
        """Refill lost copies from good ones under a new paid tx; LOST when no good copy remains.

        A node that lost data of a tx still believes it finalized and refuses uploads to it,
        so the good bytes go up again under a fresh submission (paid once per request_id).
        """
        report = await self._report(content)
        if isinstance(report, CheckOutcome):
            await self._record(content, report)
            return report
        first = _judge(content, report)
        if first.state is not VerifyState.DEGRADED:
            await self._record(content, first)
            return first
        result = await self.uploader.upload(
            report.data(),
            request_id=f"storage-recover:{request_id}",
            replicas=content.replicas,
            fresh_tx=True,
        )
        await contents.set_tx_seq(self.pool, content.root, result.tx_seq)
        outcome = await self.check(dataclasses.replace(content, tx_seq=result.tx_seq))
        restored = sum(len(s.bad) for s in report.segments)
        return dataclasses.replace(outcome, segments_restored=restored)

    async def _record(self, content: Content, outcome: CheckOutcome) -> None:
        await contents.set_verification(
            self.pool, content.root, outcome.state, outcome.detail, self.clock()
        )

    async def retention(self, db: Executor, namespace: str | None) -> tuple[int, int]:
        """Apply retention to one namespace or all: (expired, pruned) versions."""
        names = [namespace] if namespace else await namespaces.all_names(db)
        expired = pruned = 0
        for name in names:
            e, p = await objects.apply_retention(db, name, self.clock())
            expired += e
            pruned += p
        return expired, pruned
