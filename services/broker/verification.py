"""Response verification: fetch a TeeML provider's signature of a call and check it against the
request/response hashes and the expected TEE signer."""

from __future__ import annotations

import hashlib

import httpx

from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import ChainUnavailable
from zerog_signing import verify_tee_response


async def check_signature(
    http: httpx.AsyncClient,
    url: str,
    model: str,
    request: pb.VerifyResponseRequest,
    expected: str,
) -> pb.VerifyResponseResponse:
    """The outcome of checking the provider's signature of `request`'s call."""
    answer = pb.VerifyResponseResponse(expected_signer=expected)
    try:
        reply = await http.get(
            f"{url.rstrip('/')}/v1/proxy/signature/{request.chat_id}", params={"model": model}
        )
    except httpx.HTTPError as error:
        raise ChainUnavailable(f"provider unreachable: {type(error).__name__}") from None
    if reply.status_code != 200:
        answer.reason = "SIGNATURE_NOT_FOUND"
        return answer
    try:
        body = reply.json()
        text, signature = str(body["text"]), str(body["signature"])
    except (ValueError, KeyError, TypeError):
        answer.reason = "MALFORMED_SIGNATURE"
        return answer
    answer.text = text
    answer.signing_address = str(body.get("signing_address", ""))
    req_hash = request.request_sha256 or (
        hashlib.sha256(request.request_body).hexdigest() if request.request_body else ""
    )
    res_hash = request.response_sha256 or (
        hashlib.sha256(request.response_body).hexdigest() if request.response_body else ""
    )
    signed_req, _, signed_res = text.partition(":")
    if (req_hash and req_hash != signed_req) or (res_hash and res_hash != signed_res):
        answer.reason = "TEXT_MISMATCH"
        return answer
    try:
        valid = verify_tee_response(text, signature, expected)
    except Exception:  # any malformed signature is an invalid one, never a crash
        answer.reason = "MALFORMED_SIGNATURE"
        return answer
    answer.valid = valid
    answer.reason = "" if valid else "SIGNATURE_MISMATCH"
    return answer
