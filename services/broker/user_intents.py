"""Wallet users' signed intents: checked (either form), their nonces spent at once or, where an
intent authorizes a write, in that write's own transaction, so a call that fails before it
commits leaves the nonce for its retry."""

from __future__ import annotations

import time

from services.broker.errors import IntentRefused
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_db import Connection
from zerog_signing import (
    IntentAction,
    IntentVerifier,
    PostgresNonceStore,
    SignatureRejected,
    SigningError,
    VerifiedIntent,
    WalletIntent,
)

NONCES = "broker.signing_nonces"
_REASONS = {
    "BadSignature": "BAD_SIGNATURE",
    "AddressMismatch": "ADDRESS_MISMATCH",
    "StaleTimestamp": "STALE_TIMESTAMP",
    "FutureTimestamp": "FUTURE_TIMESTAMP",
    "ReplayedNonce": "REPLAYED_NONCE",
    "MalformedMessage": "MALFORMED_INTENT",
    "WrongAction": "WRONG_ACTION",
}


def _refused(error: Exception) -> IntentRefused:
    reason = _REASONS.get(type(error).__name__, "BAD_SIGNATURE")
    return IntentRefused(reason, f"intent refused: {error}")


class UserIntents:
    """Checks signed intents with `verifier` (whose replay guard keeps nonces in NONCES)."""

    def __init__(self, verifier: IntentVerifier) -> None:
        self._verifier = verifier

    async def check(
        self, signed: pb.SignedIntent, action: IntentAction, *, spend: bool = True
    ) -> VerifiedIntent:
        """The intent, verified; its nonce spent now, or (without `spend`) checked unused and
        left for `spend` in the transaction of what it authorizes. IntentRefused otherwise."""
        try:
            if signed.WhichOneof("form") == "typed":
                t = signed.typed
                intent = WalletIntent(
                    IntentAction(t.action)
                    if t.action in IntentAction.__members__.values()
                    else t.action,  # type: ignore[arg-type]
                    t.address,
                    t.timestamp_ms,
                    int(t.amount_neuron) if t.amount_neuron.isdigit() else -1,
                    t.nonce,
                )
                return await self._verifier.verify_typed(
                    intent, signed.signature, expected_action=action, spend=spend
                )
            return await self._verifier.verify_message(
                signed.message, signed.signature, expected_action=action, spend=spend
            )
        except (SignatureRejected, SigningError) as error:
            raise _refused(error) from None

    @staticmethod
    async def spend(conn: Connection, verified: VerifiedIntent) -> None:
        """Spend the intent's nonce inside `conn`'s transaction: it stays unspent unless that
        transaction commits. IntentRefused(REPLAYED_NONCE) if another call spent it first."""
        store = PostgresNonceStore(conn, table=NONCES)
        now_ms = time.time_ns() // 1_000_000
        # Lower-cased as ReplayGuard stores addresses, so both paths share one namespace.
        address = verified.address.lower()
        if not await store.record(address, verified.nonce, verified.intent.timestamp_ms, now_ms):
            raise IntentRefused(
                "REPLAYED_NONCE",
                f"intent refused: nonce {verified.nonce!r} was already used by {verified.address}",
            )
