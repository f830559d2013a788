"""ListProviders: filters (model, verifiable_only, official_only, max prices) and pagination
over services registered on the devnet's InferenceServing."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from google.rpc import error_details_pb2
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from devnet.contracts import contract
from devnet.deploy import Transactor
from tests.broker.conftest import StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


def _register(
    devnet: Devnet, w3: Web3, model: str, verifiability: str, input_price: int, output_price: int
) -> LocalAccount:
    """A new provider account registers a service (staking 100 A0GI), as a real one would."""
    account: LocalAccount = Account.create()
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(200 * A0GI)])
    serving = contract(w3, "InferenceServing", devnet.state.contracts.inference_serving)
    stake = serving.functions.MIN_PROVIDER_STAKE().call()
    params = (
        "chatbot",
        f"http://127.0.0.1:9/{model}",
        model,
        verifiability,
        input_price,
        output_price,
        '{"ProviderType":"decentralized"}',
        Account.create().address,
    )
    Transactor(w3, account).transact(serving.functions.addOrUpdateService(params), value=stake)
    return account


async def test_filters_and_pages(
    running_devnet: Devnet, devnet_w3: Web3, start_broker: StartBroker
) -> None:
    tag = uuid.uuid4().hex[:8]
    cheap = _register(running_devnet, devnet_w3, f"m-{tag}-a", "TeeML", 10, 20)
    plain = _register(running_devnet, devnet_w3, f"m-{tag}-a", "", 30, 40)
    dear = _register(running_devnet, devnet_w3, f"m-{tag}-b", "TeeML", 1000, 2000)
    ours = {cheap.address, plain.address, dear.address}
    # Started after the registrations, and the official list names one of ours.
    broker = await start_broker(OFFICIAL_PROVIDERS=plain.address)
    md = broker.md()

    async def listed(**fields: Any) -> set[str]:
        answer = await broker.stub.ListProviders(pb.ListProvidersRequest(**fields), metadata=md)
        return {p.address for p in answer.providers} & ours

    assert await listed() == ours
    assert await listed(model=f"m-{tag}-a") == {cheap.address, plain.address}
    assert await listed(model=f"m-{tag}-a", verifiable_only=True) == {cheap.address}
    assert await listed(official_only=True) == {plain.address}
    assert await listed(max_input_price_neuron="30") == {cheap.address, plain.address}
    assert await listed(max_output_price_neuron="20") == {cheap.address}
    assert await listed(max_input_price_neuron="1000", max_output_price_neuron="1999") == {
        cheap.address,
        plain.address,
    }
    found = await broker.stub.ListProviders(
        pb.ListProvidersRequest(model=f"m-{tag}-a", official_only=True), metadata=md
    )
    assert [(p.model, p.verifiable, p.input_price_neuron) for p in found.providers] == [
        (f"m-{tag}-a", False, "30")
    ]

    # Pages of 2 walk every service exactly once, then stop.
    everyone = await broker.stub.ListProviders(pb.ListProvidersRequest(page_size=200), metadata=md)
    seen: list[str] = []
    token = ""
    while True:
        page = await broker.stub.ListProviders(
            pb.ListProvidersRequest(page_size=2, page_token=token), metadata=md
        )
        assert len(page.providers) <= 2
        seen.extend(p.address for p in page.providers)
        token = page.next_page_token
        if not token:
            break
    assert seen == [p.address for p in everyone.providers]
    assert len(set(seen)) == len(seen) and ours <= set(seen)


async def test_bad_page_arguments_are_invalid(start_broker: StartBroker) -> None:
    broker = await start_broker()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await broker.stub.ListProviders(
            pb.ListProvidersRequest(page_size=500, page_token="x", max_input_price_neuron="-1"),
            metadata=broker.md(),
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
    assert bad is not None
    assert {v.field for v in bad.field_violations} == {
        "page_size",
        "page_token",
        "max_input_price_neuron",
    }


@pytest.mark.parametrize("token", ["99999999999999999999", "²", "-1", "1e3"])
async def test_page_tokens_we_never_issued_are_invalid(
    start_broker: StartBroker, token: str
) -> None:
    broker = await start_broker()
    for call in (
        broker.stub.ListProviders(pb.ListProvidersRequest(page_token=token), metadata=broker.md()),
        broker.stub.ListApiKeys(pb.ListApiKeysRequest(page_token=token), metadata=broker.md()),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        bad = unpack_detail(raised.value, error_details_pb2.BadRequest)
        assert bad is not None and [v.field for v in bad.field_violations] == ["page_token"]
