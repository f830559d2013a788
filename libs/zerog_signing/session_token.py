"""0G session tokens and API keys, built and signed exactly as the official TS SDK does.

raw_message = JSON.stringify({address, provider, timestamp, expiresAt, nonce,
                              generation, tokenId})
signature   = personal_sign(keccak256(utf8(raw_message)) as 32 raw bytes)
header      = "Bearer app-sk-" + base64(raw_message + "|" + signature)
"""

from __future__ import annotations

import base64
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring as _quote

from zerog_signing.hashing import keccak256, personal_message_hash, to_checksum_address
from zerog_signing.jsnum import js_fraction_to_base36
from zerog_signing.keys import Signer

__all__ = [
    "API_KEY_PREFIX",
    "EPHEMERAL_TOKEN_ID",
    "MAX_EPHEMERAL_LIFETIME_MS",
    "RENEW_MARGIN_MS",
    "SessionToken",
    "SignedSessionToken",
    "first_available_token_id",
    "issue_api_key",
    "issue_ephemeral_token",
    "session_nonce",
    "sign_session_token",
]

EPHEMERAL_TOKEN_ID = 255
MAX_EPHEMERAL_LIFETIME_MS = 24 * 60 * 60 * 1000
# The SDK replaces its cached ephemeral token once less than an hour of it remains.
RENEW_MARGIN_MS = 60 * 60 * 1000
API_KEY_PREFIX = "app-sk-"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@functools.lru_cache(maxsize=1024)
def _cached_checksum(address: str) -> str:
    return to_checksum_address(address)


def _provider_checksum(provider: str) -> str:
    # A client issues tokens for a handful of providers: hash each address once. Only
    # strings are cached; anything else goes straight to the validator and its error.
    if type(provider) is str:
        return _cached_checksum(provider)
    return to_checksum_address(provider)


def _system_random() -> float:
    # Same 53-bit resolution as Math.random, from the OS CSPRNG.
    return (int.from_bytes(os.urandom(8), "big") >> 11) * 2.0**-53


def session_nonce(now_ms: int, random: Callable[[], float] | None = None) -> str:
    """The SDK's nonce (Node.js path): `${ms}-${Math.random().toString(36).substring(2,15)}`,
    right-padded with "0" to 32 characters. `random` stands in for Math.random."""
    fraction = (random or _system_random)()
    return f"{now_ms}-{js_fraction_to_base36(fraction)[2:15]}".ljust(32, "0")


@dataclass(frozen=True, slots=True)
class SessionToken:
    """The fields of a session token, in the SDK's order. Times are Unix milliseconds.

    A plain record: the issue_* functions validate what they put in, and the provider-side
    parser fills it with whatever a client sent (the Go broker accepts any strings).
    """

    address: str
    provider: str
    timestamp: int
    expires_at: int
    nonce: str
    generation: int
    token_id: int

    @property
    def is_ephemeral(self) -> bool:
        """tokenId 255: a short-lived token revocable only by bumping the generation."""
        return self.token_id == EPHEMERAL_TOKEN_ID

    def raw_message(self) -> str:
        """JSON.stringify of the token: fixed key order, no spaces."""
        # encode_basestring quotes and escapes as JSON.stringify does for well-formed text.
        return (
            f'{{"address":{_quote(self.address)},"provider":{_quote(self.provider)},'
            f'"timestamp":{self.timestamp},"expiresAt":{self.expires_at},'
            f'"nonce":{_quote(self.nonce)},'
            f'"generation":{self.generation},"tokenId":{self.token_id}}}'
        )

    def needs_renewal(self, now_ms: int, margin_ms: int = RENEW_MARGIN_MS) -> bool:
        """True when an expiring token has less than `margin_ms` left (the SDK's rule)."""
        return self.expires_at != 0 and self.expires_at <= now_ms + margin_ms


@dataclass(frozen=True, slots=True)
class SignedSessionToken:
    """A token, the exact text that was signed, and the 0x-hex signature."""

    token: SessionToken
    raw_message: str
    signature: str

    @property
    def api_key(self) -> str:
        """`app-sk-<base64(raw_message|signature)>`: the OpenAI-style api_key."""
        payload = f"{self.raw_message}|{self.signature}".encode()
        return API_KEY_PREFIX + base64.b64encode(payload).decode()

    @property
    def authorization(self) -> str:
        """The Authorization header value: `Bearer app-sk-...`."""
        return "Bearer " + self.api_key

    def __repr__(self) -> str:
        # The token is a bearer credential: show who and what, never the signature.
        t = self.token
        return (
            f"SignedSessionToken(address={t.address}, provider={t.provider}, "
            f"token_id={t.token_id}, expires_at={t.expires_at})"
        )


def _check_counter(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int")
    return value


def sign_session_token(signer: Signer, token: SessionToken) -> SignedSessionToken:
    """Sign `token` as the SDK does; the signer must be the token's address."""
    if signer.address.lower() != token.address.lower():
        raise ValueError("the signer's address differs from token.address")
    raw = token.raw_message()
    signature = signer.sign_digest(personal_message_hash(keccak256(raw.encode())))
    return SignedSessionToken(token, raw, "0x" + signature.hex())


def issue_ephemeral_token(
    signer: Signer,
    provider: str,
    *,
    generation: int,
    now_ms: int | None = None,
    lifetime_ms: int = MAX_EPHEMERAL_LIFETIME_MS,
    random: Callable[[], float] | None = None,
) -> SignedSessionToken:
    """An ephemeral token (tokenId 255) valid for `lifetime_ms`, at most 24 hours.

    `generation` is the account's current generation on chain (getAccount index 9).
    As in the SDK, a lifetime of 0 or less means the 24-hour maximum.
    """
    if lifetime_ms <= 0:
        lifetime_ms = MAX_EPHEMERAL_LIFETIME_MS
    if lifetime_ms > MAX_EPHEMERAL_LIFETIME_MS:
        raise ValueError("an ephemeral token lives at most 24 hours")
    _check_counter("generation", generation)
    now = _now_ms() if now_ms is None else _check_counter("now_ms", now_ms)
    token = SessionToken(
        signer.address,
        _provider_checksum(provider),
        now,
        now + lifetime_ms,
        session_nonce(now, random),
        generation,
        EPHEMERAL_TOKEN_ID,
    )
    return sign_session_token(signer, token)


def issue_api_key(
    signer: Signer,
    provider: str,
    *,
    token_id: int,
    generation: int,
    revoked_bitmap: int = 0,
    expires_in_ms: int = 0,
    now_ms: int | None = None,
    random: Callable[[], float] | None = None,
) -> SignedSessionToken:
    """A persistent API key with tokenId 0..254; `expires_in_ms` 0 means it never expires.

    Refuses a tokenId whose bit is set in the account's revokedBitmap, as the SDK does:
    the provider would refuse the key anyway.
    """
    if not 0 <= token_id < EPHEMERAL_TOKEN_ID:
        raise ValueError("an API key's token_id is 0..254")
    if revoked_bitmap >> token_id & 1:
        raise ValueError(f"token_id {token_id} is revoked; use another or revoke all tokens")
    _check_counter("generation", generation)
    now = _now_ms() if now_ms is None else _check_counter("now_ms", now_ms)
    expires_at = now + expires_in_ms if expires_in_ms > 0 else 0
    token = SessionToken(
        signer.address,
        _provider_checksum(provider),
        now,
        expires_at,
        session_nonce(now, random),
        generation,
        token_id,
    )
    return sign_session_token(signer, token)


def first_available_token_id(revoked_bitmap: int, in_use: frozenset[int] = frozenset()) -> int:
    """The smallest tokenId 0..254 neither revoked nor in `in_use`; ValueError if none."""
    for token_id in range(EPHEMERAL_TOKEN_ID):
        if not revoked_bitmap >> token_id & 1 and token_id not in in_use:
            return token_id
    raise ValueError("all 255 API key ids are revoked or in use; revoke all tokens to reset")
