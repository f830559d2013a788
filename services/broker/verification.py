"""Response verification: fetch a TeeML provider's signature of a call and check it against the
request/response hashes and the TEE signer we acknowledged, which the contract owner must still
vouch for (a provider that re-registers with another key is not trusted until both vouch again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from services.broker import convert
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import ChainUnavailable, ServiceInfo
from zerog_signing import check_signature_reply

# Why a response is not trusted (VerifyResponseResponse.reason).
BODIES_MISSING = "BODIES_MISSING"
SIGNER_NOT_ACKNOWLEDGED = "SIGNER_NOT_ACKNOWLEDGED"
SIGNER_CHANGED = "SIGNER_CHANGED"


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """What we recorded when we acknowledged a provider."""

    tee_signer: str
    """The service's teeSignerAddress then: the key the contract owner vouches for."""
    response_signer: str
    """The address its responses recovered to then (TargetTeeAddress when separated)."""


def trusted_signer(service: ServiceInfo, acknowledged: Acknowledged | None) -> tuple[str, str]:
    """(the address responses must recover to, '' or why none can be trusted now)."""
    if acknowledged is None:
        return "", SIGNER_NOT_ACKNOWLEDGED
    expected = acknowledged.response_signer
    if not service.tee_signer_acknowledged:
        return expected, SIGNER_NOT_ACKNOWLEDGED
    if (
        service.tee_signer.lower() != acknowledged.tee_signer.lower()
        or convert.tee_signer(service).lower() != expected.lower()
    ):
        return expected, SIGNER_CHANGED
    return expected, ""


def _hashes(request: pb.VerifyResponseRequest) -> tuple[str, str]:
    req_hash = request.request_sha256 or (
        hashlib.sha256(request.request_body).hexdigest() if request.request_body else ""
    )
    res_hash = request.response_sha256 or (
        hashlib.sha256(request.response_body).hexdigest() if request.response_body else ""
    )
    return req_hash, res_hash


async def check_signature(
    http: httpx.AsyncClient,
    service: ServiceInfo,
    request: pb.VerifyResponseRequest,
    acknowledged: Acknowledged | None,
) -> pb.VerifyResponseResponse:
    """The outcome of checking the provider's signature of `request`'s call."""
    expected, refused = trusted_signer(service, acknowledged)
    answer = pb.VerifyResponseResponse(expected_signer=expected)
    req_hash, res_hash = _hashes(request)
    if not (req_hash and res_hash):
        # A signature alone proves nothing about this call: it must cover what was exchanged.
        answer.reason = BODIES_MISSING
        return answer
    if refused:
        answer.reason = refused
        return answer
    try:
        reply = await http.get(
            f"{service.url.rstrip('/')}/v1/proxy/signature/{request.chat_id}",
            params={"model": service.model},
        )
    except httpx.HTTPError as error:
        raise ChainUnavailable(f"provider unreachable: {type(error).__name__}") from None
    if reply.status_code != 200:
        answer.reason = "SIGNATURE_NOT_FOUND"
        return answer
    try:
        body = reply.json()
    except ValueError:
        answer.reason = "MALFORMED_SIGNATURE"
        return answer
    found = check_signature_reply(body, req_hash, res_hash, expected)
    answer.valid, answer.reason = found.valid, found.reason
    answer.text, answer.signing_address = found.text, found.signing_address
    return answer
