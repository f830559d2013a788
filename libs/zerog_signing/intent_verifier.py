"""IntentVerifier: checks a signed wallet intent (EIP-191 or EIP-712) and uses its nonce once.

Checks run cheapest first: format, action, claimed address, timestamp window, signature,
then the nonce. The nonce is used up only once the signature is good, so nobody can burn
another address's nonces with forged signatures. See zerog_signing.intents for the formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zerog_signing import ecdsa
from zerog_signing.errors import (
    AddressMismatch,
    BadSignature,
    InvalidAddress,
    InvalidSignature,
    MalformedMessage,
    ReplayedNonce,
    WrongAction,
)
from zerog_signing.hashing import address_bytes, keccak256, personal_message_hash
from zerog_signing.intents import (
    INTENT_PRIMARY_TYPE,
    INTENT_TYPES,
    IntentAction,
    WalletIntent,
    _typed_message,
    _typed_nonce,
    intent_domain,
    parse_intent_message,
)
from zerog_signing.personal import decode_signature
from zerog_signing.replay import ReplayGuard
from zerog_signing.typed_data import typed_data_digest

__all__ = ["IntentVerifier", "VerifiedIntent"]


@dataclass(frozen=True, slots=True)
class VerifiedIntent:
    """An accepted intent: who signed it (EIP-55), and the nonce it used up."""

    intent: WalletIntent
    address: str
    nonce: str
    form: Literal["eip191", "eip712"]


class IntentVerifier:
    """Verifies signed intents and applies replay protection.

    Checks run cheapest first and the nonce is used up only once the signature is good,
    so nobody can burn another address's nonces with forged signatures.
    """

    def __init__(self, guard: ReplayGuard, *, chain_id: int) -> None:
        self._guard = guard
        self._domain = intent_domain(chain_id)

    def _precheck(
        self,
        intent: WalletIntent,
        expected_action: IntentAction | None,
        expected_address: str | None,
    ) -> bytes:
        if expected_action is not None and intent.action != expected_action:
            raise WrongAction(f"a {intent.action} intent cannot authorize {expected_action}")
        # WalletIntent holds a validated EIP-55 address: its bytes need no second check.
        claimed = bytes.fromhex(intent.address[2:])
        if expected_address is not None:
            try:
                expected = address_bytes(expected_address)
            except InvalidAddress as e:
                raise MalformedMessage(str(e)) from None
            if expected != claimed:
                raise AddressMismatch("the intent names another address than the request")
        self._guard.check_timestamp(intent.timestamp_ms)
        return claimed

    async def _finish(
        self,
        intent: WalletIntent,
        claimed: bytes,
        digest: bytes,
        signature: bytes | str,
        nonce: str,
        form: Literal["eip191", "eip712"],
        spend: bool,
    ) -> VerifiedIntent:
        try:
            recovered = ecdsa.recover_address(digest, decode_signature(signature))
        except InvalidSignature as e:
            raise BadSignature(str(e)) from None
        if recovered != claimed:
            raise AddressMismatch("the signature was made by another address")
        if spend:
            await self._guard.consume(intent.address, nonce, intent.timestamp_ms)
        elif await self._guard.used(intent.address, nonce):
            raise ReplayedNonce(f"nonce {nonce!r} was already used by {intent.address}")
        return VerifiedIntent(intent, intent.address, nonce, form)

    async def verify_message(
        self,
        message: str,
        signature: bytes | str,
        *,
        expected_action: IntentAction | None = None,
        expected_address: str | None = None,
        spend: bool = True,
    ) -> VerifiedIntent:
        """Verify an EIP-191 intent message; raises a SignatureRejected subclass. Without
        `spend` the nonce must be unused but is left so: the caller spends it later, with the
        writes it authorizes (NonceStore.record in their transaction)."""
        intent = parse_intent_message(message)
        claimed = self._precheck(intent, expected_action, expected_address)
        nonce = (
            intent.nonce if intent.nonce is not None else "m:" + keccak256(message.encode()).hex()
        )
        digest = personal_message_hash(message)
        return await self._finish(intent, claimed, digest, signature, nonce, "eip191", spend)

    async def verify_typed(
        self,
        intent: WalletIntent,
        signature: bytes | str,
        *,
        expected_action: IntentAction | None = None,
        spend: bool = True,
    ) -> VerifiedIntent:
        """Verify an EIP-712 intent; raises a SignatureRejected subclass (`spend` as in
        verify_message)."""
        nonce = _typed_nonce(intent)
        claimed = self._precheck(intent, expected_action, None)
        # Raw address bytes: the typed encoder then skips re-validating the checksum.
        typed = _typed_message(intent, claimed, nonce)
        digest = typed_data_digest(self._domain, INTENT_TYPES, INTENT_PRIMARY_TYPE, typed)
        nonce_text = intent.nonce or ""
        return await self._finish(intent, claimed, digest, signature, nonce_text, "eip712", spend)
