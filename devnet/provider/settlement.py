"""Settles the fee ledger on chain with settleFeesWithTEE (EIP-712, signed by the TEE key)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3.logs import DISCARD

from devnet.contracts import contract
from devnet.deploy import Transactor
from devnet.provider.ledger import Batch, FeeLedger
from zerog_signing import Signer, TeeSettlement, sign_settlement

MAX_BATCH = 50
"""settleFeesWithTEE refuses more settlements per call (TooManySettlements)."""


class SettlementStatus(IntEnum):
    """Per-user outcome codes of settleFeesWithTEE."""

    SUCCESS = 0
    PARTIAL = 1
    PROVIDER_MISMATCH = 2
    NO_TEE_SIGNER = 3
    INVALID_NONCE = 4
    INVALID_SIGNATURE = 5


@dataclass(frozen=True)
class Outcome:
    """What the chain did with one user's batch."""

    user: str
    status: SettlementStatus
    claimed: int
    settled: int
    tx_hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "status": self.status.name,
            "claimed": str(self.claimed),
            "settled": str(self.settled),
            "tx_hash": self.tx_hash,
        }


class Settler:
    """Turns ledger snapshots into settleFeesWithTEE calls and books what the chain settled."""

    def __init__(
        self,
        sender: Transactor,
        tee: Signer,
        *,
        inference: str,
        chain_id: int,
        ledger: FeeLedger,
    ) -> None:
        self._sender = sender
        self._tee = tee
        self._inference = inference
        self._chain_id = chain_id
        self._ledger = ledger
        self._serving = contract(sender.w3, "InferenceServing", inference)
        self._lock = asyncio.Lock()
        self._last_nonce = 0

    async def settle(self) -> list[Outcome]:
        """Settles every user's unsettled fees now; one settlement runs at a time."""
        async with self._lock:
            outcomes: list[Outcome] = []
            batches = self._ledger.batches()
            for start in range(0, len(batches), MAX_BATCH):
                chunk = batches[start : start + MAX_BATCH]
                results = await asyncio.to_thread(self._send, chunk)
                for batch, outcome in zip(chunk, results, strict=True):
                    if outcome.settled:
                        self._ledger.settled(batch, outcome.settled)
                    outcomes.append(outcome)
            return outcomes

    def _nonce(self) -> int:
        # The provider convention: unix seconds x 10^7, strictly increasing per call.
        self._last_nonce = max(int(time.time()) * 10**7, self._last_nonce + 1)
        return self._last_nonce

    def _send(self, batches: list[Batch]) -> list[Outcome]:
        nonce = self._nonce()
        provider = self._sender.account.address
        entries = []
        for batch in batches:
            settlement = TeeSettlement(
                requests_hash=batch.requests_hash,
                nonce=nonce,
                provider=provider,
                user=batch.user,
                total_fee=batch.total_fee,
            )
            signature = sign_settlement(
                self._tee, settlement, chain_id=self._chain_id, verifying_contract=self._inference
            )
            entries.append(
                (
                    batch.user,
                    provider,
                    batch.total_fee,
                    batch.requests_hash,
                    nonce,
                    bytes.fromhex(signature[2:]),
                )
            )
        receipt = self._sender.transact(self._serving.functions.settleFeesWithTEE(entries))
        events = self._serving.events.TEESettlementResult().process_receipt(receipt, errors=DISCARD)
        by_user = {e["args"]["user"]: e["args"] for e in events}
        tx_hash = receipt["transactionHash"].to_0x_hex()
        outcomes = []
        for batch in batches:
            args = by_user.get(batch.user)
            status = SettlementStatus(args["status"]) if args else SettlementStatus.SUCCESS
            unsettled = int(args["unsettledAmount"]) if args else 0
            settled = (
                batch.total_fee - unsettled
                if status in (SettlementStatus.SUCCESS, SettlementStatus.PARTIAL)
                else 0
            )
            outcomes.append(Outcome(batch.user, status, batch.total_fee, settled, tx_hash))
        return outcomes
