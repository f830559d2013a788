"""Every error zerog_signing raises, under one root: SigningError.

SigningError
├── KeyLoadError                 a private key could not be loaded (never says which key)
│   ├── KeySourceNotFound        the environment variable or file is missing
│   ├── InvalidPrivateKey        not 32 bytes of hex, zero, or not below the curve order
│   └── KeystoreDecryptFailed    wrong password or a damaged keystore
├── InvalidAddress               not a 20-byte hex address, or a wrong EIP-55 checksum
├── InvalidSignature             not 65 bytes, bad v, high s, or nothing recoverable
├── InvalidTypedData             EIP-712 types or values that cannot be encoded
├── SignatureRejected            a signed intent was refused; `.reason` says why
│   ├── MalformedMessage, WrongAction, BadSignature, AddressMismatch,
│   └── StaleTimestamp, FutureTimestamp, ReplayedNonce
└── SessionTokenRejected         a 0G session token was refused, with the Go broker's text
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class SigningError(Exception):
    """Root of every error raised by zerog_signing."""


class KeyLoadError(SigningError):
    """A private key could not be loaded. Messages name the source, never the key."""


class KeySourceNotFound(KeyLoadError):
    """The environment variable is unset or the key file does not exist."""


class InvalidPrivateKey(KeyLoadError):
    """The material is not a valid secp256k1 private key."""


class KeystoreDecryptFailed(KeyLoadError):
    """The keystore could not be decrypted: wrong password or damaged file."""


class InvalidAddress(SigningError):
    """Not a 20-byte hex address, or mixed case with a wrong EIP-55 checksum."""


class InvalidSignature(SigningError):
    """A signature that is malformed or from which no signer can be recovered."""


class InvalidTypedData(SigningError):
    """EIP-712 types or values that cannot be encoded."""


class Rejection(StrEnum):
    """Why a signed intent was refused; the values double as gRPC ErrorInfo reasons."""

    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"
    WRONG_ACTION = "WRONG_ACTION"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    ADDRESS_MISMATCH = "ADDRESS_MISMATCH"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"
    FUTURE_TIMESTAMP = "FUTURE_TIMESTAMP"
    REPLAYED_NONCE = "REPLAYED_NONCE"


class SignatureRejected(SigningError):
    """A signed intent was refused. Catch this, or one subclass, and read `.reason`."""

    reason: Rejection = Rejection.BAD_SIGNATURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __init_subclass__(cls, reason: Rejection | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if reason is not None:
            cls.reason = reason


class MalformedMessage(SignatureRejected, reason=Rejection.MALFORMED_MESSAGE):
    """The message or its fields do not follow the canonical intent format."""


class WrongAction(SignatureRejected, reason=Rejection.WRONG_ACTION):
    """A valid intent, but for another action than the one being performed."""


class BadSignature(SignatureRejected, reason=Rejection.BAD_SIGNATURE):
    """The signature is malformed or recovers no signer."""


class AddressMismatch(SignatureRejected, reason=Rejection.ADDRESS_MISMATCH):
    """The signature recovers an address other than the one the intent names."""


class StaleTimestamp(SignatureRejected, reason=Rejection.STALE_TIMESTAMP):
    """The intent was signed longer ago than the replay window allows."""


class FutureTimestamp(SignatureRejected, reason=Rejection.FUTURE_TIMESTAMP):
    """The intent's timestamp is further in the future than the replay window allows."""


class ReplayedNonce(SignatureRejected, reason=Rejection.REPLAYED_NONCE):
    """This address already used this nonce."""


class TokenRejection(StrEnum):
    """Why a provider refuses a 0G session token, one value per check of the Go broker."""

    MISSING_HEADER = "MISSING_HEADER"
    INVALID_BASE64 = "INVALID_BASE64"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    INVALID_TOKEN_FORMAT = "INVALID_TOKEN_FORMAT"
    WRONG_PROVIDER = "WRONG_PROVIDER"
    EPHEMERAL_WITHOUT_EXPIRY = "EPHEMERAL_WITHOUT_EXPIRY"
    EPHEMERAL_TOO_LONG = "EPHEMERAL_TOO_LONG"
    EXPIRED = "EXPIRED"
    GENERATION_REVOKED = "GENERATION_REVOKED"
    FUTURE_GENERATION = "FUTURE_GENERATION"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    INVALID_SIGNATURE_FORMAT = "INVALID_SIGNATURE_FORMAT"
    INVALID_SIGNATURE_LENGTH = "INVALID_SIGNATURE_LENGTH"
    RECOVERY_FAILED = "RECOVERY_FAILED"
    ADDRESS_MISMATCH = "ADDRESS_MISMATCH"


class SessionTokenRejected(SigningError):
    """A provider refuses a session token.

    `message` is the text 0G's Go serving broker puts in its error for the same check;
    `wire_error` is what its proxy sends as `{"error": ...}` with `http_status`.
    """

    http_status = 400

    def __init__(self, reason: TokenRejection, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    @property
    def wire_error(self) -> str:
        # The Go proxy wraps ValidateSession's error with this context before answering.
        return f"validate session: {self.message}"


# Every class above is public; zerog_signing re-exports them by name.
__all__ = sorted(
    name for name, value in vars().items() if getattr(value, "__module__", None) == __name__
)
