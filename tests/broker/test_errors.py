"""Acceptance 4: typed refusals naming the cause; plus validation and request_id reuse."""

from __future__ import annotations

import grpc
import pytest
from eth_account import Account
from google.rpc import error_details_pb2

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


async def _ledger(broker: Broker, amount: int = 3 * A0GI) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(amount)),
        metadata=broker.md(),
    )


async def test_insufficient_ledger_balance_names_the_contract_error(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    await _ledger(broker)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.TransferToProvider(
            pb.TransferToProviderRequest(
                request_id="t", provider=devnet_provider.provider, amount_neuron=str(10 * A0GI)
            ),
            metadata=broker.md(),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "CONTRACT_REVERTED"
    assert info.metadata["error"] == "InsufficientAvailableBalance"
    failure = unpack_detail(raised.value, error_details_pb2.PreconditionFailure)
    assert failure is not None and failure.violations[0].type == "BALANCE"
    # Nothing was sent, and a retry with the same id runs again (still refused).
    txs = await broker.stub.ListTransactions(
        pb.ListTransactionsRequest(purpose="TRANSFER"), metadata=broker.md()
    )
    assert len(txs.transactions) == 0


async def test_unknown_provider_is_not_found(broker: Broker) -> None:
    nobody = Account.create().address
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.GetRequestCredentials(
            pb.GetRequestCredentialsRequest(provider=nobody), metadata=broker.md()
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "PROVIDER_NOT_FOUND"
    assert info.metadata["error"] == "ServiceNotExist"


async def test_unacknowledged_provider_is_failed_precondition(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.GetRequestCredentials(
            pb.GetRequestCredentialsRequest(provider=devnet_provider.provider),
            metadata=broker.md(),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "PROVIDER_NOT_ACKNOWLEDGED"
    failure = unpack_detail(raised.value, error_details_pb2.PreconditionFailure)
    assert failure is not None and failure.violations[0].type == "ACKNOWLEDGEMENT"


async def test_revoked_api_key_is_refused_by_us_and_by_the_provider(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    import httpx

    provider = devnet_provider.provider
    await _ledger(broker, 6 * A0GI)
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="a", provider=provider), metadata=broker.md()
    )
    created = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(request_id="k", provider=provider, label="ci"),
        metadata=broker.md(),
    )
    again = await broker.stub.CreateApiKey(
        pb.CreateApiKeyRequest(request_id="k", provider=provider, label="ci"),
        metadata=broker.md(),
    )
    assert again.authorization == created.authorization
    token_id = created.api_key.token_id
    await broker.stub.RevokeApiKey(
        pb.RevokeApiKeyRequest(request_id="r1", provider=provider, token_id=token_id),
        metadata=broker.md(),
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.RevokeApiKey(
            pb.RevokeApiKeyRequest(request_id="r2", provider=provider, token_id=token_id),
            metadata=broker.md(),
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "API_KEY_REVOKED"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await broker.stub.RevokeApiKey(
            pb.RevokeApiKeyRequest(request_id="r3", provider=provider, token_id=200),
            metadata=broker.md(),
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{devnet_provider.url}/v1/proxy/chat/completions",
            json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": created.authorization},
        )
    assert reply.status_code in (400, 401, 403), reply.text


async def test_bad_fields_are_all_listed(broker: Broker) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.TransferToProvider(
            pb.TransferToProviderRequest(request_id="", provider="0x12", amount_neuron="1.5"),
            metadata=broker.md(),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert bad is not None
    assert {v.field for v in bad.field_violations} == {"request_id", "provider", "amount_neuron"}


async def test_request_id_reuse_for_another_request_is_already_exists(broker: Broker) -> None:
    await _ledger(broker)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.Deposit(
            pb.DepositRequest(request_id="ledger", amount_neuron="1"), metadata=broker.md()
        )
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_a_caller_not_allowed_is_refused(broker: Broker) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.Deposit(
            pb.DepositRequest(request_id="x", amount_neuron="1"), metadata=broker.md("storage")
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
