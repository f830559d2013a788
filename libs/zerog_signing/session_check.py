"""Provider-side check of a 0G session token, mirroring 0G's Go serving broker step by step.

Order and texts follow its ValidateSession: header prefix, base64, split on the first "|",
JSON, provider, ephemeral rules, expiry, generation, revocation bitmap, then EIP-191
recovery over keccak256(token text). On-chain facts (generation, revokedBitmap) are the
caller's to fetch, usually between parse_session_header and check_session_token, since
they depend on token.address. If the account does not exist, pass 0 and 0: so does Go.

Mirrored faithfully, quirks included: a high-s signature is accepted (go-ethereum's
recovery does not refuse it), v = 29/30 fail as "recovery failed" rather than as a bad
recovery id, and an ephemeral token with a negative expiresAt passes both the 24-hour rule
and the expiry check, so it never expires. Texts of Go's JSON syntax errors are exact for
the common cases and close for the rest (see gocompat).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from zerog_signing import ecdsa
from zerog_signing.errors import SessionTokenRejected, TokenRejection
from zerog_signing.gocompat import (
    GoDecodeError,
    go_hexutil_decode,
    go_json_kind,
    go_json_object_pairs,
    go_std_b64decode,
    is_json_float,
)
from zerog_signing.hashing import keccak256
from zerog_signing.session_token import EPHEMERAL_TOKEN_ID, MAX_EPHEMERAL_LIFETIME_MS, SessionToken

__all__ = [
    "ParsedSessionHeader",
    "check_session_token",
    "parse_session_header",
    "verify_session_header",
]

_PREFIX = "Bearer app-sk-"
_PREFIX_LEN = len(_PREFIX)
_PERSONAL_32 = b"\x19Ethereum Signed Message:\n32"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1

# Folded JSON key -> (SessionToken attribute, JSON name in Go errors, Go type, min, max).
_FIELDS: dict[str, tuple[str, str, str, int, int]] = {
    "address": ("address", "address", "string", 0, 0),
    "provider": ("provider", "provider", "string", 0, 0),
    "timestamp": ("timestamp", "timestamp", "int64", _INT64_MIN, _INT64_MAX),
    "expiresat": ("expires_at", "expiresAt", "int64", _INT64_MIN, _INT64_MAX),
    "nonce": ("nonce", "nonce", "string", 0, 0),
    "generation": ("generation", "generation", "uint64", 0, _UINT64_MAX),
    "tokenid": ("token_id", "tokenId", "uint8", 0, 255),
}


# The SDK's own JSON.stringify output: its keys in its order, no whitespace, strings of
# printable ASCII without escapes (so the text is the value), integers without leading
# zeros. Matching it proves the JSON parses, so only the integer ranges are left to check.
_TEXT = rb'"([\x20\x21\x23-\x5b\x5d-\x7e]*)"'
_INT64 = rb"(-?(?:0|[1-9][0-9]{0,18}))"
_SDK_FORM = re.compile(
    rb'\{"address":'
    + _TEXT
    + rb',"provider":'
    + _TEXT
    + rb',"timestamp":'
    + _INT64
    + rb',"expiresAt":'
    + _INT64
    + rb',"nonce":'
    + _TEXT
    + rb',"generation":(0|[1-9][0-9]{0,19}),"tokenId":(0|[1-9][0-9]{0,2})\}'
)


class _Object(list[tuple[str, object]]):
    """A JSON object as its (key, value) pairs in document order."""


# Stateless once built, so one decoder serves every call.
_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_Object)
_ZERO_VALUES: dict[str, object] = {
    "address": "",
    "provider": "",
    "timestamp": 0,
    "expires_at": 0,
    "nonce": "",
    "generation": 0,
    "token_id": 0,
}


def _reject(reason: TokenRejection, message: str) -> SessionTokenRejected:
    return SessionTokenRejected(reason, message)


@dataclass(frozen=True, slots=True)
class ParsedSessionHeader:
    """A decoded header: the token, the exact bytes that were signed, the signature text."""

    token: SessionToken
    token_bytes: bytes
    signature: str

    @property
    def address(self) -> str:
        """The user the token claims to be (not yet verified)."""
        return self.token.address


def parse_session_header(authorization: str | None) -> ParsedSessionHeader:
    """Decode `Bearer app-sk-<base64(token|signature)>`; SessionTokenRejected if malformed.

    None (no header at all) is refused like an empty header.
    """
    if not isinstance(authorization, str) or not authorization.startswith(_PREFIX):
        raise _reject(
            TokenRejection.MISSING_HEADER,
            "missing or invalid Authorization header, "
            "must be Bearer app-sk-<base64(rawMessage:signature)>",
        )
    encoded = authorization[_PREFIX_LEN:].encode("utf-8", "surrogateescape")
    try:
        payload = go_std_b64decode(encoded)
    except GoDecodeError as e:
        raise _reject(
            TokenRejection.INVALID_BASE64, f"invalid base64 in Authorization header: {e}"
        ) from None
    token_bytes, bar, signature = payload.partition(b"|")
    if not bar:
        raise _reject(
            TokenRejection.INVALID_PAYLOAD,
            "invalid Authorization payload, expect base64(rawMessage:signature)",
        )
    token = _unmarshal_token(token_bytes)
    return ParsedSessionHeader(token, token_bytes, signature.decode("utf-8", "replace"))


def _unmarshal_token(token_bytes: bytes) -> SessionToken:
    """json.Unmarshal into the Go SessionToken struct, with Go's errors."""
    fast = _unmarshal_sdk_form(token_bytes)
    if fast is None:
        fast = _unmarshal_plain(token_bytes)
    return fast if fast is not None else _unmarshal_exact(token_bytes)


def _unmarshal_sdk_form(token_bytes: bytes) -> SessionToken | None:
    """Tokens as the SDK writes them, without a JSON parser; None for anything else."""
    match = _SDK_FORM.fullmatch(token_bytes)
    if match is None:
        return None
    address, provider, timestamp, expires_at, nonce, generation, token_id = match.groups()
    values = int(timestamp), int(expires_at), int(generation), int(token_id)
    if not (
        _INT64_MIN <= values[0] <= _INT64_MAX
        and _INT64_MIN <= values[1] <= _INT64_MAX
        and values[2] <= _UINT64_MAX
        and values[3] <= 255
    ):
        return None  # out of range: Go's type error comes from the exact path
    return SessionToken(
        address.decode("ascii"),
        provider.decode("ascii"),
        values[0],
        values[1],
        nonce.decode("ascii"),
        values[2],
        values[3],
    )


def _unmarshal_plain(token_bytes: bytes) -> SessionToken | None:
    """The common case through the C JSON decoder; None whenever Go's rules need a closer look.

    Pairs come in document order, so duplicate keys resolve as in Go (the last one wins);
    any value of the wrong type sends the token to the exact path, which finds Go's error.
    """
    try:
        pairs = _PAIRS_DECODER.decode(token_bytes.decode())
    except ValueError:
        return None
    if type(pairs) is not _Object:
        return None
    values: dict[str, object] = dict(_ZERO_VALUES)
    for key, value in pairs:
        spec = _FIELDS.get(_go_fold(key))
        if spec is None or value is None:
            continue
        attr, _, go_type, low, high = spec
        if go_type == "string":
            if type(value) is not str:
                return None
        elif type(value) is not int or not low <= value <= high:
            return None
        values[attr] = value
    return SessionToken(**values)  # type: ignore[arg-type]


def _go_fold(key: str) -> str:
    # Go matches JSON keys to fields case-insensitively with Unicode simple folding, under
    # which the long s folds to "s" (the Kelvin sign already lower-cases to "k").
    return key.lower().replace("\u017f", "s")


def _unmarshal_exact(token_bytes: bytes) -> SessionToken:
    values: dict[str, object] = dict(_ZERO_VALUES)
    first_error: str | None = None
    try:
        pairs = go_json_object_pairs(token_bytes.decode("utf-8", "replace"))
    except GoDecodeError as e:
        first_error = str(e)
        pairs = None
    if isinstance(pairs, str):
        first_error = f"json: cannot unmarshal {pairs} into Go value of type ctrl.SessionToken"
    elif pairs is not None:
        for key, value in pairs:
            spec = _FIELDS.get(_go_fold(key))
            if spec is None or value is None:
                continue  # Go ignores unknown keys, and null leaves the zero value.
            attr, json_name, go_type, low, high = spec
            if go_type == "string":
                ok = isinstance(value, str) and not is_json_float(value)
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
            if ok:
                values[attr] = value
            elif first_error is None:
                # Go keeps decoding after a type error and reports the first one.
                kind = go_json_kind(value)
                if go_type == "string" and kind.startswith("number"):
                    kind = "number"
                first_error = (
                    f"json: cannot unmarshal {kind} into Go struct field "
                    f"SessionToken.{json_name} of type {go_type}"
                )
    if first_error is not None:
        raise _reject(
            TokenRejection.INVALID_TOKEN_FORMAT,
            f"invalid session token format in Authorization: {first_error}",
        )
    return SessionToken(**values)  # type: ignore[arg-type]


def _wrap_int64(value: int) -> int:
    # Go's int64 subtraction wraps around; mirror it so the same tokens pass and fail.
    return (value - _INT64_MIN) % (1 << 64) + _INT64_MIN


def check_session_token(
    parsed: ParsedSessionHeader,
    *,
    provider: str,
    generation: int,
    revoked_bitmap: int,
    now_ms: int | None = None,
) -> str:
    """Run the Go broker's checks on a parsed header; return the token's address.

    `provider` is this provider's address; `generation` and `revoked_bitmap` are the
    user's account fields on chain (getAccount indexes 9 and 10).
    """
    token = parsed.token
    if token.provider.lower() != provider.lower():
        raise _reject(TokenRejection.WRONG_PROVIDER, "session token is for different provider")
    if token.token_id == EPHEMERAL_TOKEN_ID:
        if token.expires_at == 0:
            raise _reject(
                TokenRejection.EPHEMERAL_WITHOUT_EXPIRY,
                "ephemeral token must have an expiration time",
            )
        if _wrap_int64(token.expires_at - token.timestamp) > MAX_EPHEMERAL_LIFETIME_MS:
            raise _reject(
                TokenRejection.EPHEMERAL_TOO_LONG,
                "ephemeral token duration cannot exceed 24 hours",
            )
    now_s = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) // 1000
    # Go: ExpiresAt/1000 truncates toward zero; ExpiresAt > 0 here, so // agrees.
    if token.expires_at > 0 and now_s > token.expires_at // 1000:
        raise _reject(TokenRejection.EXPIRED, "session token expired")
    if token.generation < generation:
        raise _reject(
            TokenRejection.GENERATION_REVOKED,
            "session token has been revoked (generation expired)",
        )
    if token.generation > generation:
        raise _reject(TokenRejection.FUTURE_GENERATION, "invalid session token (future generation)")
    if token.token_id != EPHEMERAL_TOKEN_ID and revoked_bitmap >> token.token_id & 1:
        raise _reject(TokenRejection.TOKEN_REVOKED, "session token has been revoked")
    try:
        signature = go_hexutil_decode(parsed.signature)
    except GoDecodeError as e:
        raise _reject(
            TokenRejection.INVALID_SIGNATURE_FORMAT, f"invalid signature format: {e}"
        ) from None
    if len(signature) != 65:
        raise _reject(TokenRejection.INVALID_SIGNATURE_LENGTH, "invalid signature length")
    # Go computes v - 27 on a byte (wrapping) and go-ethereum accepts recovery ids 0..3.
    # It does not refuse a high s either: recovery alone decides, as here.
    recid = (signature[64] - 27) & 0xFF
    if recid >= 4:
        raise _reject(
            TokenRejection.RECOVERY_FAILED,
            "failed to recover public key from signature: invalid signature recovery id",
        )
    digest = keccak256(_PERSONAL_32 + keccak256(parsed.token_bytes))
    recovered = ecdsa.recover_address_raw(digest, signature[:64], recid)
    if recovered is None:
        raise _reject(
            TokenRejection.RECOVERY_FAILED,
            "failed to recover public key from signature: recovery failed",
        )
    if "0x" + recovered.hex() != token.address.lower():
        raise _reject(
            TokenRejection.ADDRESS_MISMATCH, "signature verification failed: address mismatch"
        )
    return token.address


def verify_session_header(
    authorization: str | None,
    *,
    provider: str,
    generation: int,
    revoked_bitmap: int,
    now_ms: int | None = None,
) -> ParsedSessionHeader:
    """parse_session_header then check_session_token, when the account state is at hand."""
    parsed = parse_session_header(authorization)
    check_session_token(
        parsed,
        provider=provider,
        generation=generation,
        revoked_bitmap=revoked_bitmap,
        now_ms=now_ms,
    )
    return parsed
