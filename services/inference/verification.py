"""TEE verification by inference itself: a verifiable provider's signature of the hashes of the
request and response bodies, checked against the signer the broker acknowledged (held with the
provider's credentials, so no broker call per check)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import httpx

from services.inference.provider_http import Completion, Credentials
from zerog_signing import check_signature_reply

log = logging.getLogger("services.inference.verification")
NOT_VERIFIABLE, VERIFIED, FAILED, PENDING = "not_verifiable", "verified", "failed", "pending"


@dataclass(frozen=True)
class Verdict:
    """The TEE check of an answer (PENDING until a check after the answer is done)."""

    status: str
    chat_id: str = ""
    signing_address: str = ""
    reason: str = ""


NOT_CHECKED = Verdict(NOT_VERIFIABLE)


@dataclass(frozen=True)
class Signed:
    """What a provider's TEE signs for one answer: kept with the answer until it is checked."""

    provider: str
    chat_id: str
    request_sha256: str
    response_sha256: str

    @classmethod
    def of(cls, provider: str, completion: Completion) -> Signed:
        return cls(
            provider,
            completion.chat_id,
            hashlib.sha256(completion.request_body).hexdigest(),
            hashlib.sha256(completion.response_body).hexdigest(),
        )


class CheckUnavailable(Exception):
    """The provider could not be asked for its signature now: try again later."""


async def check(
    http: httpx.AsyncClient, creds: Credentials, signed: Signed, seconds: float
) -> Verdict:
    """The verdict on `signed`; CheckUnavailable when the provider cannot be reached."""
    if creds.signer_untrusted or not creds.response_signer:
        return Verdict(FAILED, signed.chat_id, "", creds.signer_untrusted or "NO_SIGNER")
    if not (signed.chat_id and signed.request_sha256 and signed.response_sha256):
        return Verdict(FAILED, signed.chat_id, "", "BODIES_MISSING")
    try:
        reply = await http.get(
            f"{creds.endpoint.rstrip('/')}/signature/{signed.chat_id}",
            params={"model": creds.model},
            timeout=seconds,
        )
    except httpx.HTTPError as error:
        raise CheckUnavailable(f"provider unreachable: {type(error).__name__}") from None
    if reply.status_code >= 500 or reply.status_code == 429:
        raise CheckUnavailable(f"provider answered {reply.status_code}")
    if reply.status_code != 200:
        return Verdict(FAILED, signed.chat_id, "", "SIGNATURE_NOT_FOUND")
    try:
        body = reply.json()
    except ValueError:
        return Verdict(FAILED, signed.chat_id, "", "MALFORMED_SIGNATURE")
    found = check_signature_reply(
        body, signed.request_sha256, signed.response_sha256, creds.response_signer
    )
    if not found.valid:
        log.warning(
            "verification failed", extra={"provider": signed.provider, "reason": found.reason}
        )
        return Verdict(FAILED, signed.chat_id, found.signing_address, found.reason)
    return Verdict(VERIFIED, signed.chat_id, found.signing_address)
