"""The fast path of auto top-up: per provider, the headroom a full check found (locked minus
what the sub-account must hold) and the fees recorded since, so a call with ample headroom
needs no chain read and no provider HTTP call. A full check runs again when the spend since
approaches the headroom, when the last check is older than `max_age` seconds, or after anything
that moved the sub-account (forget)."""

from __future__ import annotations

from dataclasses import dataclass

from zerog_chain import AccountInfo
from zerog_grpc import monotonic


@dataclass(frozen=True, slots=True)
class _Checked:
    at: float
    account: AccountInfo
    headroom: int
    spent_before: int


class Headroom:
    """What the last full check of each provider found, and the spend since."""

    def __init__(self, max_age: float) -> None:
        self._max_age = max_age
        self._checked: dict[str, _Checked] = {}
        # Ever-growing per provider: a check remembers the total it started from, so a fee
        # recorded while the check read the chain still counts against its headroom.
        self._spent: dict[str, int] = {}
        self._refreshing: set[str] = set()
        # Moved by every forget: a check that began before one must not store what it read.
        self._epoch = 0
        self._epochs: dict[str, int] = {}

    def epoch(self, provider: str) -> int:
        """Where forgetting stands for `provider` (taken when a full check starts)."""
        return self._epoch + self._epochs.get(provider.lower(), 0)

    def spent(self, provider: str) -> int:
        """Fees recorded in this replica so far (a snapshot to start a full check from)."""
        return self._spent.get(provider.lower(), 0)

    def spend(self, provider: str, fee: int) -> None:
        """A fee was recorded: it eats into the headroom."""
        key = provider.lower()
        self._spent[key] = self._spent.get(key, 0) + max(fee, 0)

    def fresh(self, provider: str, next_input_fee: int) -> AccountInfo | None:
        """The checked account when the headroom is ample and the check recent, else None."""
        key = provider.lower()
        checked = self._checked.get(key)
        if checked is None:
            return None
        since = self._spent.get(key, 0) - checked.spent_before
        # Half the headroom: the provider may meter calls we have not recorded yet.
        if since + next_input_fee > checked.headroom // 2:
            return None
        age = monotonic() - checked.at
        if age <= self._max_age:
            return checked.account
        # Stale: one caller re-checks while the others keep the fast path a little longer.
        if key in self._refreshing:
            return checked.account if age <= 4 * self._max_age else None
        self._refreshing.add(key)
        return None

    def checked(
        self, provider: str, account: AccountInfo, headroom: int, spent_before: int, epoch: int
    ) -> None:
        """A full check that began at `epoch` found `headroom` to spare (no top-up needed,
        none pending); dropped if the account was forgotten meanwhile (a revoke-all while the
        check read the chain must not bring the old generation back)."""
        key = provider.lower()
        self._refreshing.discard(key)
        if epoch != self.epoch(provider):
            return
        self._checked[key] = _Checked(monotonic(), account, headroom, spent_before)

    def forget(self, provider: str | None = None) -> None:
        """The sub-account moved (a transfer, a refund request, revoke-all): check it again."""
        if provider is None:
            self._epoch += 1
            self._checked.clear()
            self._refreshing.clear()
            return
        key = provider.lower()
        self._epochs[key] = self._epochs.get(key, 0) + 1
        self._checked.pop(key, None)
        self._refreshing.discard(provider.lower())
