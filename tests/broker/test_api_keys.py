"""RevokeAllApiKeys: the generation moves on chain, so the devnet provider refuses every token
issued before (persistent keys and the cached session token) and accepts the new ones."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


async def _call(endpoint: str, model: str, authorization: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{endpoint}/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": authorization},
        )


async def test_revoke_all_refuses_old_keys_and_accepts_new_ones(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    md, provider = broker.md(), devnet_provider.provider
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(6 * A0GI)),
        metadata=md,
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=md
    )
    session = await broker.stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=md
    )
    keys = [
        await broker.stub.CreateApiKey(
            pb.CreateApiKeyRequest(request_id=f"k{i}", provider=provider, label=f"old{i}"),
            metadata=md,
        )
        for i in range(2)
    ]
    old = [session.authorization, *(k.authorization for k in keys)]
    for authorization in old:
        reply = await _call(session.endpoint, session.model, authorization)
        assert reply.status_code == 200, reply.text

    revoked = await broker.stub.RevokeAllApiKeys(
        pb.RevokeAllApiKeysRequest(request_id="revoke-all", provider=provider), metadata=md
    )
    assert revoked.generation == 1 and revoked.revoked_count == 2
    assert revoked.receipt.purpose == "REVOKE_ALL_TOKENS" and revoked.receipt.tx_hash
    for authorization in old:
        reply = await _call(session.endpoint, session.model, authorization)
        assert reply.status_code == 400, reply.text
        assert "generation" in reply.json()["error"], reply.text

    renewed = await broker.stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=md
    )
    fresh = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(request_id="k-new", provider=provider, label="new"), metadata=md
    )
    assert renewed.authorization not in old
    for authorization in (renewed.authorization, fresh.authorization):
        reply = await _call(session.endpoint, session.model, authorization)
        assert reply.status_code == 200, reply.text

    listed = await broker.stub.ListApiKeys(
        pb.ListApiKeysRequest(provider=provider, include_revoked=True), metadata=md
    )
    assert {(k.label, k.revoked, k.generation) for k in listed.api_keys} == {
        ("old0", True, 0),
        ("old1", True, 0),
        ("new", False, 1),
    }
    # A retry of the same request answers the same and sends nothing more.
    replay = await broker.stub.RevokeAllApiKeys(
        pb.RevokeAllApiKeysRequest(request_id="revoke-all", provider=provider), metadata=md
    )
    assert replay == revoked
    account = await broker.stub.GetProvider(pb.GetProviderRequest(provider=provider), metadata=md)
    assert account.sub_account.generation == 1


@pytest.mark.parametrize("seconds_ago", [None, 60])
async def test_an_expiry_in_the_past_is_refused_not_a_key_that_never_expires(
    broker: Broker, devnet_provider: ProviderProcess, seconds_ago: int | None
) -> None:
    md, provider = broker.md(), devnet_provider.provider
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(4 * A0GI)),
        metadata=md,
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=md
    )
    # The epoch itself or a minute ago: once made a token with `expiresAt: 0`, one that never
    # expires.
    past = Timestamp(seconds=0 if seconds_ago is None else int(time.time()) - seconds_ago)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.CreateApiKey(
            pb.CreateApiKeyRequest(request_id="past", provider=provider, expires_at=past),
            metadata=md,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert bad is not None and [v.field for v in bad.field_violations] == ["expires_at"]
    listed = await broker.stub.ListApiKeys(
        pb.ListApiKeysRequest(provider=provider, include_revoked=True), metadata=md
    )
    assert list(listed.api_keys) == []

    # An expiry in the future makes a key that carries it (not 0, "never").
    soon = int(time.time()) + 3600
    made = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(
            request_id="future", provider=provider, expires_at=Timestamp(seconds=soon)
        ),
        metadata=md,
    )
    assert made.api_key.expires_at.seconds == soon
    row = await broker.pool.fetchrow("SELECT expires_ms FROM api_keys")
    assert row is not None and row["expires_ms"] == soon * 1000
