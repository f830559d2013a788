"""Every transaction the broker sends survives a lost eth_sendRawTransaction answer without a
second one: the revocations (a revoke-all resent would move the generation twice) and the
automatic top-ups. The chain RPC is reached through a proxy that holds that answer past the
broker's RPC timeout while anvil has already mined the transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc
import pytest

from devnet import A0GI, Devnet
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker, StartBroker
from tests.faults.rpc_proxy import RpcProxy
from tests.retrying import in_progress
from zerog.broker.v1 import broker_service_pb2 as pb

T = TypeVar("T")
SEND = "eth_sendRawTransaction"


@pytest.fixture
async def proxy(running_devnet: Devnet) -> AsyncIterator[RpcProxy]:
    running = RpcProxy(running_devnet.state.rpc_url)
    await running.start()
    yield running
    await running.stop()


async def _broker(start_broker: StartBroker, proxy: RpcProxy, provider: str) -> Broker:
    broker = await start_broker(
        ZG_RPC_URL=proxy.url, ZG_RPC_TIMEOUT_SECONDS="1", RECEIPT_TIMEOUT_SECONDS="20"
    )
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(10 * A0GI)),
        metadata=broker.md(),
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=broker.md()
    )
    return broker


async def _answered(call: Callable[[float], Awaitable[T]]) -> T:
    """Retry on the errors a lost answer may show (the first attempt gives up after 2 s); while
    the first attempt still runs, a retry is told to come back (REQUEST_IN_PROGRESS)."""
    deadline = 2.0
    for _ in range(10):
        try:
            return await call(deadline)
        except grpc.aio.AioRpcError as error:
            delay = in_progress(error)
            if delay is not None:
                await asyncio.sleep(delay)
            else:
                assert error.code() in (
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ), error
        deadline = 30.0
    raise AssertionError("no answer after 10 attempts")


async def _sent(broker: Broker, purpose: str) -> list[tuple[str, str]]:
    rows = await broker.pool.fetch(
        "SELECT status, error FROM transactions WHERE purpose = $1 ORDER BY created_at", purpose
    )
    return [(r["status"], r["error"]) for r in rows]


async def test_revoke_all_with_a_lost_answer_moves_the_generation_once(
    start_broker: StartBroker, devnet_provider: ProviderProcess, proxy: RpcProxy
) -> None:
    provider = devnet_provider.provider
    broker = await _broker(start_broker, proxy, provider)
    request = pb.RevokeAllApiKeysRequest(request_id="revoke-all", provider=provider)
    proxy.lose_answer(SEND, "hold_reply", 3.0)

    async def revoke(deadline: float) -> pb.RevokeAllApiKeysResponse:
        return await broker.stub.RevokeAllApiKeys(request, metadata=broker.md(), timeout=deadline)

    revoked = await _answered(revoke)
    again = await revoke(30.0)

    assert again.receipt.tx_hash == revoked.receipt.tx_hash
    assert revoked.generation == 1
    assert await _sent(broker, "REVOKE_ALL_TOKENS") == [("succeeded", "")]
    got = await broker.stub.GetProvider(
        pb.GetProviderRequest(provider=provider), metadata=broker.md()
    )
    assert got.sub_account.generation == 1


async def test_revoking_a_key_with_a_lost_answer_sends_one_transaction(
    start_broker: StartBroker, devnet_provider: ProviderProcess, proxy: RpcProxy
) -> None:
    provider = devnet_provider.provider
    broker = await _broker(start_broker, proxy, provider)
    key = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(request_id="key", provider=provider), metadata=broker.md()
    )
    request = pb.RevokeApiKeyRequest(
        request_id="revoke-key", provider=provider, token_id=key.api_key.token_id
    )
    proxy.lose_answer(SEND, "hold_reply", 3.0)

    async def revoke(deadline: float) -> pb.RevokeApiKeyResponse:
        return await broker.stub.RevokeApiKey(request, metadata=broker.md(), timeout=deadline)

    revoked = await _answered(revoke)
    again = await revoke(30.0)

    assert again.receipt.tx_hash == revoked.receipt.tx_hash and revoked.api_key.revoked
    assert await _sent(broker, "REVOKE_TOKEN") == [("succeeded", "")]


async def test_a_top_up_with_a_lost_answer_is_made_once(
    start_broker: StartBroker, devnet_provider: ProviderProcess, proxy: RpcProxy
) -> None:
    provider = devnet_provider.provider
    broker = await _broker(start_broker, proxy, provider)
    # The acknowledgement's first transfer locked 1 A0GI; the floor (2 A0GI) needs a top-up.
    proxy.lose_answer(SEND, "hold_reply", 3.0)

    async def credentials(deadline: float) -> pb.GetRequestCredentialsResponse:
        return await broker.stub.GetRequestCredentials(
            pb.GetRequestCredentialsRequest(provider=provider),
            metadata=broker.md("inference"),
            timeout=deadline,
        )

    await _answered(credentials)
    again = await credentials(30.0)

    assert again.authorization
    assert await _sent(broker, "TOP_UP") == [("succeeded", "")]
    top_ups = await broker.pool.fetch("SELECT tx_hash, error FROM top_ups")
    assert [r["error"] for r in top_ups] == [""] and top_ups[0]["tx_hash"]
    got = await broker.stub.GetProvider(
        pb.GetProviderRequest(provider=provider), metadata=broker.md()
    )
    assert got.sub_account.locked_neuron == str(2 * A0GI)
