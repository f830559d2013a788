"""A devnet provider stakes and registers its service on the real InferenceServing contract."""

from __future__ import annotations

import json

import httpx
from web3 import Web3

from devnet import A0GI, Devnet
from devnet.provider import ProviderProcess, default_specs


def test_service_is_registered_with_url_model_prices_and_acknowledged_tee_signer(
    running_devnet: Devnet, devnet_provider: ProviderProcess
) -> None:
    inference = running_devnet.contracts().inference

    service = inference.functions.getService(devnet_provider.provider).call()

    (provider, service_type, url, input_price, output_price, _, model, verifiability) = service[:8]
    assert provider == devnet_provider.provider
    assert (service_type, url, model, verifiability) == (
        "chatbot",
        devnet_provider.url,
        "zerog-devnet-echo",
        "TeeML",
    )
    assert (input_price, output_price) == (1_000_000_000, 2_000_000_000)
    assert json.loads(service[8])["ProviderType"] == "decentralized"
    assert service[9] == devnet_provider.tee_signer
    assert service[10] is True  # teeSignerAcknowledged, by the contract owner


def test_first_registration_stakes_what_the_contract_requires(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    inference = running_devnet.contracts(devnet_w3).inference

    staked = inference.events.ProviderStaked().get_logs(
        from_block=0, argument_filters={"provider": devnet_provider.provider}
    )

    assert [e["args"]["amount"] for e in staked] == [100 * A0GI]
    assert inference.functions.MIN_PROVIDER_STAKE().call() == 100 * A0GI


def test_models_and_quote_name_the_model_and_the_tee_signer(
    devnet_provider: ProviderProcess,
) -> None:
    models = httpx.get(f"{devnet_provider.url}/v1/models").json()
    quote = json.loads(httpx.get(f"{devnet_provider.url}/v1/quote").text)

    assert [m["id"] for m in models["data"]] == ["zerog-devnet-echo"]
    assert quote["signing_address"] == devnet_provider.tee_signer


def test_default_providers_differ_in_price_and_latency() -> None:
    specs = default_specs(3)

    prices = [spec.knobs["input_price"] for spec in specs]
    delays = [spec.knobs["first_token_delay_ms"] for spec in specs]
    assert prices == sorted(set(prices))
    assert delays == sorted(set(delays))
    assert len({spec.private_key for spec in specs}) == 3
