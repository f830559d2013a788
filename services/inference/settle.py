"""After an answer: its TEE check, and the completion a stream amounts to."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.inference.broker_client import BrokerClient
from services.inference.provider_http import Completion, Credentials, ProviderStream
from zerog_grpc import request_ids

log = logging.getLogger("services.inference.chat")
NOT_VERIFIABLE, VERIFIED, FAILED = "not_verifiable", "verified", "failed"


@dataclass(frozen=True)
class Verdict:
    """The TEE check of an answer."""

    status: str
    chat_id: str = ""
    signing_address: str = ""
    reason: str = ""


NOT_CHECKED = Verdict(NOT_VERIFIABLE)


async def verify(
    broker: BrokerClient, run_id: str, creds: Credentials, completion: Completion
) -> Verdict:
    """The broker's check of the answer's TEE signature; no check is a failed one."""
    try:
        result = await broker.verify(
            request_ids.derived("verify", run_id), creds.provider, completion
        )
    except Exception as error:
        # Could not check: that is a failed verification, never a silent pass.
        log.warning("verification unavailable", extra={"provider": creds.provider})
        return Verdict(FAILED, completion.chat_id, "", f"verification unavailable: {error}")
    if result.valid:
        return Verdict(VERIFIED, completion.chat_id, result.signing_address)
    log.warning("verification failed", extra={"provider": creds.provider, "reason": result.reason})
    return Verdict(FAILED, completion.chat_id, result.signing_address, result.reason)


def stream_completion(stream: ProviderStream) -> Completion:
    """What a stream delivered, as one completion."""
    return Completion(
        id=stream.id,
        chat_id=stream.chat_id or stream.id,
        model=stream.model,
        content="".join(stream.content),
        finish_reason=stream.finish_reason or "stop",
        usage=stream.usage,
        request_body=stream.request_body,
        response_body=stream.response_body,
    )
