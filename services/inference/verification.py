"""TEE verification by inference itself: a verifiable provider's signature of the hashes of the
request and response bodies, checked against the signer the broker acknowledged (held with the
provider's credentials, so no broker call per check)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

import aiohttp

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
    http: aiohttp.ClientSession, creds: Credentials, signed: Signed, seconds: float
) -> Verdict:
    """The verdict on `signed`; CheckUnavailable when the provider cannot be reached."""
    if creds.signer_untrusted or not creds.response_signer:
        return Verdict(FAILED, signed.chat_id, "", creds.signer_untrusted or "NO_SIGNER")
    if not (signed.chat_id and signed.request_sha256 and signed.response_sha256):
        return Verdict(FAILED, signed.chat_id, "", "BODIES_MISSING")
    try:
        async with http.get(
            f"{creds.endpoint.rstrip('/')}/signature/{signed.chat_id}",
            params={"model": creds.model},
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as reply:
            status, content = reply.status, await reply.read()
    except (TimeoutError, aiohttp.ClientError) as error:
        raise CheckUnavailable(f"provider unreachable: {type(error).__name__}") from None
    if status >= 500 or status == 429:
        raise CheckUnavailable(f"provider answered {status}")
    if status != 200:
        return Verdict(FAILED, signed.chat_id, "", "SIGNATURE_NOT_FOUND")
    try:
        body = json.loads(content)
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
