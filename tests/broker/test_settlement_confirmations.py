"""Settlement reconciliation reads only blocks SETTLEMENT_CONFIRMATIONS below the latest, so a
settlement in a block that a reorg replaces is never counted, and once the provider's
transaction lands again (in another block) and is confirmed, it is counted exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from services.broker.config import Config
from tests.broker.conftest import Broker, StartBroker
from tests.support import auth_env
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc.settings import ConfigError


async def _one_paid_call(broker: Broker, provider: str) -> int:
    """Fund the provider's sub-account, call it once, record the usage; returns the fee."""
    stub, md = broker.stub, broker.md()
    await stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c1", initial_deposit_neuron=str(3 * A0GI)), metadata=md
    )
    await stub.TransferToProvider(
        pb.TransferToProviderRequest(
            request_id="t1", provider=provider, amount_neuron=str(2 * A0GI)
        ),
        metadata=md,
    )
    await stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="a1", provider=provider), metadata=md
    )
    inference = broker.md("inference")
    creds = await stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=inference
    )
    body = {"model": creds.model, "messages": [{"role": "user", "content": "hello"}]}
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{creds.endpoint}/chat/completions",
            json=body,
            headers={"Authorization": creds.authorization},
            timeout=60,
        )
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    recorded = await stub.RecordUsage(
        pb.RecordUsageRequest(
            request_id="u1",
            provider=provider,
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            chat_id=reply.headers.get("ZG-Res-Key") or reply.json()["id"],
        ),
        metadata=inference,
    )
    fee = int(recorded.fee_neuron)
    assert fee > 0
    return fee


async def _settled(broker: Broker, provider: str) -> tuple[int, int, int]:
    """(settled fee, settlements, last block read) from the settlement report."""
    report = await broker.stub.GetSettlementReport(
        pb.GetSettlementReportRequest(provider=provider), metadata=broker.md()
    )
    rows = [r for r in report.providers if r.provider.lower() == provider.lower()]
    assert len(rows) == 1, report
    return int(rows[0].settled_fee_neuron), rows[0].settlements, report.block_number


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in answer, answer
    return answer["result"]


async def test_a_reorged_settlement_is_counted_once_it_lands_again_and_is_confirmed(
    start_broker: StartBroker,
    start_provider: Callable[..., ProviderProcess],
    devnet_w3: Web3,
) -> None:
    broker = await start_broker(SETTLEMENT_CONFIRMATIONS="2")
    process = start_provider()
    provider = process.provider
    fee = await _one_paid_call(broker, provider)

    [outcome] = process.settle()
    assert (outcome["status"], int(outcome["settled"])) == ("SUCCESS", fee)
    tx_hash = outcome["tx_hash"]
    settled_in = int(devnet_w3.eth.get_transaction_receipt(tx_hash)["blockNumber"])
    raw = _rpc(devnet_w3, "eth_getRawTransactionByHash", tx_hash)

    # The settlement's block is the latest: not confirmed yet, so not counted.
    assert devnet_w3.eth.block_number == settled_in
    assert (await _settled(broker, provider))[:2] == (0, 0)

    # A reorg replaces that block with an empty one, and the chain moves on past the depth.
    _rpc(devnet_w3, "anvil_reorg", 1, [])
    _rpc(devnet_w3, "anvil_mine", hex(3))
    settled, settlements, read_to = await _settled(broker, provider)
    assert (settled, settlements) == (0, 0)
    assert read_to == devnet_w3.eth.block_number - 2
    assert read_to >= settled_in  # the reorged block was read, and held nothing for us

    # The same signed transaction lands again, in a later block, and gets confirmed.
    _rpc(devnet_w3, "eth_sendRawTransaction", raw)
    landed_in = int(devnet_w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)["blockNumber"])
    assert landed_in > settled_in
    assert (await _settled(broker, provider))[:2] == (0, 0)
    _rpc(devnet_w3, "anvil_mine", hex(2))
    assert (await _settled(broker, provider))[:2] == (fee, 1)
    rows = await broker.pool.fetch(
        "SELECT block_number, tx_hash FROM balance_events WHERE kind = 'settlement'"
    )
    assert [(r["block_number"], r["tx_hash"]) for r in rows] == [(landed_in, tx_hash)]


def test_confirmations_default_to_six_on_live_networks_and_zero_on_the_devnet() -> None:
    base = {"DATABASE_URL": "postgresql://x/y", "ZG_PRIVATE_KEY": "0x" + "11" * 32}
    base |= {**auth_env("broker"), "ZG_RPC_URL": "http://127.0.0.1:1"}
    devnet = {**base, "ZG_NETWORK": "devnet", "DEVNET_STATE": "/tmp/devnet.json"}
    assert Config.from_env(devnet).settlement_confirmations == 0
    assert Config.from_env({**base, "ZG_NETWORK": "testnet"}).settlement_confirmations == 6
    assert Config.from_env({**base, "ZG_NETWORK": "mainnet"}).settlement_confirmations == 6
    chosen = {**base, "ZG_NETWORK": "mainnet", "SETTLEMENT_CONFIRMATIONS": "12"}
    assert Config.from_env(chosen).settlement_confirmations == 12
    with pytest.raises(ConfigError, match="SETTLEMENT_CONFIRMATIONS"):
        Config.from_env({**chosen, "SETTLEMENT_CONFIRMATIONS": "-1"})
