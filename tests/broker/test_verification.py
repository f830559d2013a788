"""VerifyResponse checks against the TEE signer we acknowledged (and the contract owner still
vouches for), never against whatever signer the provider registered since; a call without the
bodies (or their hashes) is a failed verification, not a skipped check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from eth_account import Account
from web3 import Web3

from devnet import A0GI, Devnet
from devnet.contracts import contract
from devnet.deploy import Transactor
from devnet.provider.chain import ServiceOffer, register_service
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker, StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb


async def _chat(broker: Broker, provider: str) -> tuple[str, bytes, bytes]:
    """One call through the provider the chain names now: (chat id, request, response)."""
    creds = await broker.stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=broker.md("inference")
    )
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(
            f"{creds.endpoint}/chat/completions",
            json={"model": creds.model, "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": creds.authorization},
        )
    assert reply.status_code == 200, reply.text
    chat_id = reply.headers.get("ZG-Res-Key") or reply.json()["id"]
    return chat_id, reply.request.content, reply.content


async def _verify(
    broker: Broker, provider: str, request_id: str, chat: tuple[str, bytes, bytes]
) -> pb.VerifyResponseResponse:
    chat_id, request_body, response_body = chat
    return await broker.stub.VerifyResponse(
        pb.VerifyResponseRequest(
            request_id=request_id,
            provider=provider,
            chat_id=chat_id,
            request_body=request_body,
            response_body=response_body,
        ),
        metadata=broker.md("inference"),
    )


async def test_verification_uses_the_acknowledged_signer_not_a_re_registered_one(
    running_devnet: Devnet,
    devnet_w3: Web3,
    deployer: Transactor,
    start_broker: StartBroker,
    start_provider: Callable[..., ProviderProcess],
) -> None:
    key = "0x" + bytes(Account.create().key).hex()
    first = start_provider(private_key=key)
    provider = first.provider
    broker = await start_broker()
    md = broker.md()
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(10 * A0GI)),
        metadata=md,
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=md
    )
    rows = await broker.pool.fetch("SELECT provider, tee_signer FROM acknowledgements")
    assert [tuple(r) for r in rows] == [(provider, first.tee_signer)]

    honest = await _chat(broker, provider)
    verified = await _verify(broker, provider, "v-honest", honest)
    assert (verified.valid, verified.reason) == (True, "")
    assert verified.expected_signer == verified.signing_address == first.tee_signer

    # Without the bodies (or their hashes) nothing ties the signature to this call: failed.
    bare = await broker.stub.VerifyResponse(
        pb.VerifyResponseRequest(request_id="v-bare", provider=provider, chat_id=honest[0]),
        metadata=broker.md("inference"),
    )
    assert (bare.valid, bare.reason) == (False, "BODIES_MISSING")
    half = await broker.stub.VerifyResponse(
        pb.VerifyResponseRequest(
            request_id="v-half", provider=provider, chat_id=honest[0], request_body=honest[1]
        ),
        metadata=broker.md("inference"),
    )
    assert (half.valid, half.reason) == (False, "BODIES_MISSING")

    # The same provider re-registers with another key; the owner vouches for it, we did not.
    # (From a thread: launching makes blocking web3 calls, see test_topups._anvil.)
    second = await asyncio.to_thread(
        start_provider, private_key=key, tee_key="0x" + bytes(Account.create().key).hex()
    )
    assert second.provider == provider and second.tee_signer != first.tee_signer
    # Credentials name the URL the provider cache holds: refreshed now, not within its TTL.
    await broker.server.deps.providers.refresh()
    swapped = await _chat(broker, provider)
    changed = await _verify(broker, provider, "v-changed", swapped)
    assert (changed.valid, changed.reason) == (False, "SIGNER_CHANGED")
    assert changed.expected_signer == first.tee_signer

    # Re-registered with an ordinary key: the owner's acknowledgement is gone on chain.
    inference = running_devnet.state.contracts.inference_serving
    transactor = Transactor(devnet_w3, Account.from_key(key))

    async def register(signer: str) -> None:
        offer = ServiceOffer(second.url, "zerog-devnet-echo", 10**9, 2 * 10**9, signer)
        await asyncio.to_thread(register_service, transactor, inference, offer)

    await register(Account.create().address)
    serving = contract(devnet_w3, "InferenceServing", inference)
    assert (
        await asyncio.to_thread(lambda: serving.functions.getService(provider).call()[10]) is False
    )
    refused = await _verify(broker, provider, "v-unacknowledged", swapped)
    assert (refused.valid, refused.reason) == (False, "SIGNER_NOT_ACKNOWLEDGED")
    honest_now = await _verify(broker, provider, "v-honest-now", honest)
    assert (honest_now.valid, honest_now.reason) == (False, "SIGNER_NOT_ACKNOWLEDGED")

    # Back to the second key, the owner vouches for it and so do we: it verifies, the first not.
    await register(second.tee_signer)
    await asyncio.to_thread(
        deployer.transact, serving.functions.acknowledgeTEESignerByOwner(provider)
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack-again", provider=provider), metadata=md
    )
    accepted = await _verify(broker, provider, "v-accepted", swapped)
    assert (accepted.valid, accepted.expected_signer) == (True, second.tee_signer)
    old = await _verify(broker, provider, "v-old", honest)
    assert (old.valid, old.reason) == (False, "SIGNATURE_NOT_FOUND")  # served by the new URL

    outcomes = await broker.pool.fetch(
        "SELECT request_id, valid, reason FROM verifications ORDER BY request_id"
    )
    assert {r["request_id"]: (r["valid"], r["reason"]) for r in outcomes} == {
        "v-accepted": (True, ""),
        "v-bare": (False, "BODIES_MISSING"),
        "v-changed": (False, "SIGNER_CHANGED"),
        "v-half": (False, "BODIES_MISSING"),
        "v-honest": (True, ""),
        "v-honest-now": (False, "SIGNER_NOT_ACKNOWLEDGED"),
        "v-old": (False, "SIGNATURE_NOT_FOUND"),
        "v-unacknowledged": (False, "SIGNER_NOT_ACKNOWLEDGED"),
    }


async def test_a_provider_we_never_acknowledged_is_not_verified(
    start_broker: StartBroker, devnet_provider: ProviderProcess
) -> None:
    broker = await start_broker()
    answer = await broker.stub.VerifyResponse(
        pb.VerifyResponseRequest(
            request_id="v",
            provider=devnet_provider.provider,
            chat_id="chat-1",
            request_sha256="0" * 64,
            response_sha256="1" * 64,
        ),
        metadata=broker.md("inference"),
    )
    assert (answer.valid, answer.reason) == (False, "SIGNER_NOT_ACKNOWLEDGED")
