"""Knobs change a running provider: prices (on chain too), latency, errors and outages."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from web3 import Web3

from devnet import Devnet
from devnet.provider import ProviderProcess
from tests.devnet.provider.provider_helpers import PROMPT, chat, eventually, fee_of, new_user

Start = Callable[..., ProviderProcess]


def test_price_change_is_registered_on_chain_and_charged(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Start
) -> None:
    provider = start_provider()
    user = new_user(running_devnet, devnet_w3, provider.provider)
    headers = user.headers(provider.provider)

    provider.set_knobs(input_price="7", output_price=11)
    usage = chat(provider, headers).json()["usage"]

    service = user.inference.functions.getService(provider.provider).call()
    assert (service[3], service[4]) == (7, 11)
    unsettled = httpx.get(
        f"{provider.url}/v1/user/{user.address}/unsettledfee", headers=headers
    ).json()
    assert int(unsettled["unsettledFee"]) == fee_of(usage, 7, 11)


def test_error_rate_answers_with_the_chosen_status_and_charges_nothing(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Start
) -> None:
    provider = start_provider(knobs={"error_rate": 1.0, "error_status": 429})
    user = new_user(running_devnet, devnet_w3, provider.provider)
    headers = user.headers(provider.provider)

    failed = chat(provider, headers)
    provider.set_knobs(error_rate=0)
    served = chat(provider, headers)

    assert (failed.status_code, failed.json()) == (429, {"error": "Too Many Requests"})
    assert served.status_code == 200
    assert provider.status()["requests_served"] == 1


def test_outage_unavailable_and_drop(start_provider: Start) -> None:
    provider = start_provider()

    provider.set_knobs(outage="unavailable")
    unavailable = httpx.get(f"{provider.url}/v1/models")
    provider.set_knobs(outage="drop")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{provider.url}/v1/models")
    provider.set_knobs(outage="none")
    back = httpx.get(f"{provider.url}/v1/models")

    assert (unavailable.status_code, unavailable.json()) == (503, {"error": "Service Unavailable"})
    assert back.status_code == 200


def test_outage_refuse_closes_the_port_then_listens_again(start_provider: Start) -> None:
    provider = start_provider()

    provider.set_knobs(outage="refuse", outage_seconds=0.5)

    def refused() -> bool:
        try:
            httpx.get(f"{provider.url}/v1/models")
        except httpx.ConnectError:
            return True
        return False

    assert eventually(refused)
    assert eventually(lambda: not refused())
    assert provider.status()["knobs"]["outage"] == "none"


def test_bad_knobs_are_refused_by_name(start_provider: Start) -> None:
    provider = start_provider()

    answers = [
        httpx.post(f"{provider.url}/admin/knobs", json=body)
        for body in ({"speed": 1}, {"error_rate": 2}, {"outage": "refuse"}, {"input_price": 1.5})
    ]

    assert [a.status_code for a in answers] == [400] * 4
    assert [a.json()["error"] for a in answers] == [
        "unknown knobs: speed",
        "error_rate must be between 0 and 1",
        "outage refuse needs outage_seconds > 0 (else nobody could undo it)",
        "input_price: expected int, got 1.5",
    ]


def test_slow_stream_delivers_chunks_before_the_answer_is_complete(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Start
) -> None:
    provider = start_provider(knobs={"first_token_delay_ms": 50, "token_delay_ms": 150})
    user = new_user(running_devnet, devnet_w3, provider.provider)
    body = {**PROMPT, "stream": True}
    seen: list[str] = []
    served_at_first_token: int | None = None

    with httpx.stream(
        "POST",
        f"{provider.url}/v1/proxy/chat/completions",
        json=body,
        headers=user.headers(provider.provider),
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if not line:
                continue
            seen.append(line)
            if served_at_first_token is None and _first_content(line):
                # The provider meters a call when its stream ends: not yet.
                served_at_first_token = provider.status()["requests_served"]

    assert served_at_first_token == 0
    assert seen[-1] == "data: [DONE]"
    assert provider.status()["requests_served"] == 1


def _first_content(line: str) -> bool:
    chunk = line.removeprefix("data: ")
    if chunk == "[DONE]":
        return False
    choices = json.loads(chunk)["choices"]
    return bool(choices and choices[0]["delta"].get("content"))
