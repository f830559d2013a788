"""In-memory ledger of fees a provider has earned but not yet settled on chain, per user."""

from __future__ import annotations

from dataclasses import dataclass, field

from zerog_signing import keccak256


@dataclass
class _UserFees:
    unsettled: int = 0
    records: list[bytes] = field(default_factory=list)
    """keccak256 of each metered call (chat id and fee), hashed into requestsHash."""


@dataclass(frozen=True)
class Batch:
    """What one settlement claims for one user: a snapshot of the ledger."""

    user: str
    total_fee: int
    requests_hash: bytes
    record_count: int


class FeeLedger:
    """Unsettled fees per user (checksummed address). Single-threaded: used from one loop."""

    def __init__(self) -> None:
        self._users: dict[str, _UserFees] = {}
        self.settled_total: dict[str, int] = {}
        """What the chain confirmed as settled, per user, since start."""

    def charge(self, user: str, chat_id: str, fee: int) -> None:
        """Meters one call."""
        entry = self._users.setdefault(user, _UserFees())
        entry.unsettled += fee
        entry.records.append(keccak256(f"{chat_id}:{fee}".encode()))

    def unsettled(self, user: str) -> int:
        entry = self._users.get(user)
        return entry.unsettled if entry else 0

    def batches(self) -> list[Batch]:
        """One batch per user with something to settle."""
        return [
            Batch(user, e.unsettled, keccak256(b"".join(e.records)), len(e.records))
            for user, e in self._users.items()
            if e.unsettled > 0
        ]

    def settled(self, batch: Batch, amount: int) -> None:
        """The chain settled `amount` of `batch`; calls metered since the snapshot stay."""
        entry = self._users[batch.user]
        entry.unsettled -= amount
        del entry.records[: batch.record_count]
        self.settled_total[batch.user] = self.settled_total.get(batch.user, 0) + amount
        if entry.unsettled == 0 and not entry.records:
            del self._users[batch.user]
