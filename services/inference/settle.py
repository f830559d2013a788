"""After an answer: the usage record at the broker, the TEE check of the answer, and the
completion a stream amounts to."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
import grpc.aio

from services.inference.broker_client import BrokerClient
from services.inference.provider_http import Completion, Credentials, ProviderStream
from zerog_grpc import request_ids

log = logging.getLogger("services.inference.chat")
# RecordUsage is retried on these (the broker was briefly away or busy), a bounded number of
# times: the answer waits for it.
_TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)
_RECORD_ATTEMPTS = 3
_RECORD_BACKOFF_SECONDS = 0.1
NOT_VERIFIABLE, VERIFIED, FAILED = "not_verifiable", "verified", "failed"


@dataclass(frozen=True)
class Verdict:
    """The TEE check of an answer."""

    status: str
    chat_id: str = ""
    signing_address: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Usage:
    """What one answer used, as the broker records it for the provider."""

    request_id: str
    user: str
    prompt: int
    produced: int
    fee: int


async def record_usage(
    broker: BrokerClient, usage: Usage, creds: Credentials, completion: Completion
) -> None:
    """Tell the broker what we owe the provider; a failure is logged, never raised."""
    for attempt in range(1, _RECORD_ATTEMPTS + 1):
        try:
            await broker.record_usage(
                usage.request_id,
                creds.provider,
                input_tokens=usage.prompt,
                output_tokens=usage.produced,
                fee_neuron=usage.fee,
                user=usage.user,
                chat_id=completion.chat_id,
            )
            return
        except Exception as error:
            # The broker records once per id, so a retry never bills twice; only a
            # transient failure is worth one.
            transient = isinstance(error, grpc.aio.AioRpcError) and error.code() in _TRANSIENT
            if transient and attempt < _RECORD_ATTEMPTS:
                await asyncio.sleep(_RECORD_BACKOFF_SECONDS * attempt)
                continue
            # Usage is also metered by the provider; what is logged is enough to record
            # it again by hand (the same id replays, never double-bills).
            log.exception(
                "record usage failed",
                extra={
                    "provider": creds.provider,
                    "usage_request_id": usage.request_id,
                    "input_tokens": usage.prompt,
                    "output_tokens": usage.produced,
                    "fee_neuron": str(usage.fee),
                    "attempts": attempt,
                },
            )
            return


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


async def not_verifiable() -> Verdict:
    return Verdict(NOT_VERIFIABLE)


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
