"""TEE verification by inference itself (issue 16): an answer is checked right after it is given
unless the caller asks for the check first; the verdict is kept by inference and can be asked
for; a failed check counts against the provider; a check whose replica died is made by another.
The broker is asked for no check: it only tells which signer to trust, with the credentials."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import grpc
import pytest
from eth_account import Account
from google.rpc import error_details_pb2

from devnet.provider import ProviderProcess
from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import unpack_detail

HELLO = [pb.ChatMessage(role=pb.CHAT_ROLE_USER, content="check me")]


def ask(
    model: str,
    request_id: str,
    timing: pb.VerificationTiming.ValueType = pb.VERIFICATION_TIMING_UNSPECIFIED,
    **routing: object,
) -> pb.ChatCompletionRequest:
    return pb.ChatCompletionRequest(
        request_id=request_id,
        subject="user:vera",
        model=model,
        messages=HELLO,
        max_tokens=8,
        routing=pb.RoutingOptions(**routing),  # type: ignore[arg-type]
        verification=timing,
    )


def _info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None
    return info


async def test_checked_after_the_answer_by_default_or_before_it_when_asked(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    md = inference.md()

    later = await inference.chat.ChatCompletion(ask(trio.model, "after"), metadata=md)
    assert later.verification.status == pb.VERIFICATION_STATUS_PENDING
    found = await inference.verification("after")
    assert found.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    assert found.verification.signing_address == trio.cheap.tee_signer
    assert found.provider.lower() == later.routing.provider.lower()
    assert found.check_time.ToDatetime() >= found.answer_time.ToDatetime()

    first = await inference.chat.ChatCompletion(
        ask(trio.model, "before", pb.VERIFICATION_TIMING_BEFORE_ANSWER), metadata=md
    )
    assert first.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    assert first.verification.signing_address == trio.cheap.tee_signer
    found = await inference.verification("before")
    assert found.verification == first.verification

    # No check went through the broker, and each was counted once with its timing.
    assert await inference.broker.pool.fetchval("SELECT count(*) FROM verifications") == 0
    counted = inference.server.engine.verifier.checked
    assert counted.labels("verified", "after_answer")._value.get() == 1
    assert counted.labels("verified", "before_answer")._value.get() == 1

    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await inference.chat.GetVerification(
            pb.GetVerificationRequest(request_id="never"), metadata=md
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert _info(missing.value).reason == "NO_ANSWER"
    # Another caller's request_id is not this caller's answer.
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await inference.chat.GetVerification(
            pb.GetVerificationRequest(request_id="after"), metadata=inference.md("someone")
        )
    assert other.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_changed_signer_fails_the_check_and_counts_against_the_provider(
    start_inference: StartInference, start_provider: Callable[..., ProviderProcess]
) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    model = f"verify-{uuid.uuid4().hex[:8]}"
    first = start_provider(private_key=key, model=model)
    inference = await start_inference([first], CREDENTIAL_REFRESH_SECONDS="0.2")
    md = inference.md()
    ok = await inference.chat.ChatCompletion(ask(model, "ok"), metadata=md)
    assert (await inference.verification("ok")).verification.status == (
        pb.VERIFICATION_STATUS_VERIFIED
    )

    # The provider re-registers with another TEE key that we never acknowledged.
    second = await asyncio.to_thread(
        start_provider,
        private_key=key,
        model=model,
        tee_key="0x" + bytes(Account.create().key).hex(),
    )
    assert second.provider == ok.routing.provider
    await inference.broker.server.deps.providers.refresh()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the held credentials learn of it at their next refresh
        creds = await inference.server.engine.broker.credentials(second.provider, 5)
        # (SIGNER_NOT_ACKNOWLEDGED between the re-registration and the owner vouching.)
        if creds.signer_untrusted == "SIGNER_CHANGED":
            break
        assert loop.time() < deadline, "credentials never said the signer changed"
        await asyncio.sleep(0.05)

    later = await inference.chat.ChatCompletion(ask(model, "later"), metadata=md)
    assert later.verification.status == pb.VERIFICATION_STATUS_PENDING
    found = await inference.verification("later")
    assert found.verification.status == pb.VERIFICATION_STATUS_FAILED
    assert found.verification.reason == "SIGNER_CHANGED"
    # Counted as the provider's failure: routing sees it, and so does its breaker.
    assert inference.server.engine.failover.stats.success_rate(second.provider) < 1.0

    # A caller that asked for verified answers only never gets this one.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await inference.chat.ChatCompletion(ask(model, "strict", verifiable_only=True), metadata=md)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _info(refused.value).reason == "RESPONSE_NOT_VERIFIED"
    counted = inference.server.engine.verifier.checked
    assert counted.labels("failed", "before_answer")._value.get() == 1
    assert counted.labels("failed", "after_answer")._value.get() == 1


async def test_a_check_left_by_a_dead_replica_is_made_by_another(
    start_inference: StartInference, trio: Trio
) -> None:
    fast = {"VERIFY_GRACE_SECONDS": "0.2", "VERIFY_SWEEP_SECONDS": "0.1"}
    gone = await start_inference(trio.all, **fast)
    # This replica answers but never checks (as if it died right after the answer).
    await gone.server.engine.verifier.stop()
    reply = await gone.chat.ChatCompletion(ask(trio.model, "orphan"), metadata=gone.md())
    assert reply.verification.status == pb.VERIFICATION_STATUS_PENDING
    await asyncio.sleep(0.3)
    pending = await gone.pool.fetchval(
        "SELECT verification FROM inference.answer_sources WHERE request_id = 'orphan'"
    )
    assert pending == "pending"

    other = await start_inference(trio.all, **fast)
    found = await other.verification("orphan")
    assert found.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    counted = other.server.engine.verifier.checked
    assert counted.labels("verified", "after_answer")._value.get() == 1
