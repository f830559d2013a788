"""Auto top-up: the provider's unsettledfee figure (our record when it cannot answer), resuming
a transfer whose receipt timed out, and ledger refills from the wallet below the floor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import grpc
import httpx
import pytest
from aiohttp import web
from eth_account import Account
from eth_account.signers.local import LocalAccount
from google.rpc import error_details_pb2
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from devnet.deploy import Transactor
from devnet.provider.chain import ServiceOffer, register_service
from devnet.provider.process import ProviderProcess, acknowledge_tee_signer
from tests.broker.conftest import Broker, StartBroker
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import unpack_detail


async def _last_top_up(broker: Broker) -> asyncpg.Record:
    row = await broker.pool.fetchrow("SELECT * FROM top_ups ORDER BY id DESC LIMIT 1")
    assert row is not None
    return row


async def _ready(broker: Broker, provider: str, ledger: int) -> None:
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="ledger", initial_deposit_neuron=str(ledger)),
        metadata=broker.md(),
    )
    await broker.stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="ack", provider=provider), metadata=broker.md()
    )


async def _credentials(broker: Broker, provider: str) -> pb.GetRequestCredentialsResponse:
    return await broker.stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=broker.md("inference")
    )


async def _anvil(w3: Web3, method: str, *params: object) -> None:
    # From a thread: a blocking web3 call on the loop's thread can deadlock with the broker's
    # AsyncWeb3 session cache.
    await asyncio.to_thread(w3.provider.make_request, RPCEndpoint(method), list(params))


async def test_top_up_counts_the_providers_unsettled_fee_and_falls_back_to_ours(
    start_broker: StartBroker, start_provider: Callable[..., ProviderProcess]
) -> None:
    # The provider first: launching it makes blocking web3 calls (see _anvil).
    dear = start_provider(knobs={"input_price": 10**16, "output_price": 10**16})
    broker = await start_broker()
    provider = dear.provider
    await _ready(broker, provider, 20 * A0GI)
    creds = await _credentials(broker, provider)  # first top-up: 1 A0GI locked -> 2 A0GI
    assert creds.top_up.amount_neuron == str(A0GI)
    # Calls we never report: only the provider knows what they cost.
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(3):
            reply = await http.post(
                f"{creds.endpoint}/chat/completions",
                json={"model": creds.model, "messages": [{"role": "user", "content": "hello"}]},
                headers={"Authorization": creds.authorization},
            )
            assert reply.status_code == 200, reply.text
    owed = int(dear.status()["unsettled"][broker.account.address])
    assert 0 < owed < A0GI

    again = await _credentials(broker, provider)
    # Locked 2 A0GI < owed + 2 A0GI: the deficit is `owed`, the transfer at least 1 A0GI.
    assert int(again.top_up.amount_neuron) == max(owed, A0GI)
    row = await _last_top_up(broker)
    assert (row["unsettled_source"], int(row["unsettled_neuron"])) == ("provider", owed)
    assert int(row["required"]) == owed + 2 * A0GI

    # The provider cannot answer: our own record (3 A0GI of reported usage) decides.
    dear.set_knobs(outage="unavailable")
    try:
        recorded = await broker.stub.RecordUsage(
            pb.RecordUsageRequest(
                request_id="u1", provider=provider, fee_neuron=str(3 * A0GI), input_tokens=1
            ),
            metadata=broker.md("inference"),
        )
    finally:
        dear.set_knobs(outage="none")
    assert recorded.top_up.receipt.tx_hash
    row = await _last_top_up(broker)
    assert (row["unsettled_source"], int(row["unsettled_neuron"])) == ("local", 3 * A0GI)
    assert int(row["required"]) == 5 * A0GI
    assert await broker.pool.fetchval("SELECT count(*) FROM top_ups WHERE error = ''") == 3


async def test_a_timed_out_top_up_is_waited_for_not_sent_again(
    start_broker: StartBroker, devnet_provider: ProviderProcess, devnet_w3: Web3
) -> None:
    broker = await start_broker(RECEIPT_TIMEOUT_SECONDS="1")
    provider = devnet_provider.provider
    await _ready(broker, provider, 10 * A0GI)

    await _anvil(devnet_w3, "evm_setAutomine", False)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _credentials(broker, provider)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        timed_out = await _last_top_up(broker)
        assert timed_out["error"] == "ReceiptTimeout" and timed_out["tx_hash"]
        # The transfer is still in the node's pool; it lands in the next block, and the retry
        # waits for its receipt instead of sending another.
        await _anvil(devnet_w3, "evm_mine")
    finally:
        await _anvil(devnet_w3, "evm_setAutomine", True)

    retried = await _credentials(broker, provider)
    assert retried.top_up.receipt.tx_hash == timed_out["tx_hash"]
    sent = await broker.pool.fetch(
        "SELECT tx_hash, status FROM transactions WHERE purpose = 'TOP_UP'"
    )
    assert [(r["tx_hash"], r["status"]) for r in sent] == [(timed_out["tx_hash"], "succeeded")]
    row = await _last_top_up(broker)
    assert row["error"] == ""
    got = await broker.stub.GetProvider(
        pb.GetProviderRequest(provider=provider), metadata=broker.md()
    )
    assert got.sub_account.locked_neuron == str(2 * A0GI)  # 1 A0GI first transfer + 1 top-up


async def test_ledger_refill_below_the_floor_once_across_replicas(
    start_broker: StartBroker, devnet_provider: ProviderProcess
) -> None:
    floor = {"LEDGER_MIN_BALANCE_NEURON": str(4 * A0GI), "LEDGER_REFILL_NEURON": str(10 * A0GI)}
    broker = await start_broker(**floor)
    other = await start_broker(**floor)
    provider = devnet_provider.provider
    await _ready(broker, provider, 5 * A0GI)  # 4 A0GI available after the first transfer

    # Twenty concurrent requests: one top-up of 1 A0GI leaves 3 < 4, so one refill of 10.
    await asyncio.gather(*(_credentials(broker, provider) for _ in range(20)))
    refills = await broker.pool.fetch("SELECT * FROM ledger_refills")
    assert [(int(r["available_before"]), int(r["amount_neuron"]), r["error"]) for r in refills] == [
        (3 * A0GI, 10 * A0GI, "")
    ]
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.available_neuron == str(13 * A0GI)

    # Drained below the floor (a refund must leave 3 A0GI), then both replicas try to refill
    # at once: one deposit.
    await broker.stub.Refund(
        pb.RefundRequest(request_id="drain", amount_neuron=str(10 * A0GI)), metadata=broker.md()
    )
    results = await asyncio.gather(
        *(b.server.deps.refill.ensure() for b in (broker, other) for _ in range(5))
    )
    assert sum(r is not None for r in results) == 1
    refills = await broker.pool.fetch("SELECT * FROM ledger_refills ORDER BY id")
    assert len(refills) == 2 and int(refills[1]["available_before"]) == 3 * A0GI
    deposits = await broker.pool.fetchval(
        "SELECT count(*) FROM transactions WHERE purpose = 'LEDGER_REFILL' AND status = 'succeeded'"
    )
    assert deposits == 2
    ledger = await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())
    assert ledger.ledger.available_neuron == str(13 * A0GI)


class GreedyProvider:
    """A provider's HTTP side that reports whatever unsettled fee the test sets (a fault
    injector: an honest provider reports what it metered)."""

    def __init__(self) -> None:
        self.unsettled = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/user/{user}/unsettledfee", self._unsettled)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _unsettled(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"userAddress": request.match_info["user"], "unsettledFee": str(self.unsettled)}
        )


@pytest.fixture
async def greedy(
    running_devnet: Devnet, devnet_w3: Web3, deployer: Transactor
) -> AsyncIterator[tuple[GreedyProvider, str]]:
    """The fake endpoint, registered on chain as a provider's service (owner-acknowledged)."""
    fake = GreedyProvider()
    await fake.start()
    account: LocalAccount = Account.create()
    await _anvil(devnet_w3, "anvil_setBalance", account.address, hex(200 * A0GI))
    offer = ServiceOffer(fake.url, "greedy", 1, 1, Account.create().address)
    inference = running_devnet.state.contracts.inference_serving
    await asyncio.to_thread(register_service, Transactor(devnet_w3, account), inference, offer)
    await asyncio.to_thread(acknowledge_tee_signer, running_devnet.state, deployer, account.address)
    yield fake, account.address
    await fake.stop()


async def _locked(broker: Broker, provider: str) -> int:
    got = await broker.stub.GetProvider(
        pb.GetProviderRequest(provider=provider), metadata=broker.md()
    )
    return int(got.sub_account.locked_neuron)


async def test_a_top_up_above_the_cap_is_refused_recorded_and_counted(
    start_broker: StartBroker, greedy: tuple[GreedyProvider, str]
) -> None:
    fake, provider = greedy
    broker = await start_broker()
    await _ready(broker, provider, 50 * A0GI)  # 1 A0GI locked after the first transfer
    available = (await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())).ledger

    # The provider claims 40 A0GI we never used: the top-up would move 41 A0GI into its
    # sub-account. No usage in the last 24 h: the cap is min_balance + topup_amount = 3 A0GI.
    fake.unsettled = 40 * A0GI
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _credentials(broker, provider)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "TOPUP_ABOVE_CAP"
    assert dict(info.metadata) == {
        "provider": provider,
        "amount_neuron": str(41 * A0GI),
        "cap_neuron": str(3 * A0GI),
    }
    assert await _locked(broker, provider) == A0GI
    ledger = (await broker.stub.GetLedger(pb.GetLedgerRequest(), metadata=broker.md())).ledger
    assert ledger.available_neuron == available.available_neuron
    row = await _last_top_up(broker)
    assert (row["error"], row["tx_hash"], int(row["amount_neuron"]), int(row["cap_neuron"])) == (
        "TOPUP_ABOVE_CAP",
        None,
        41 * A0GI,
        3 * A0GI,
    )
    assert (row["unsettled_source"], int(row["unsettled_neuron"])) == ("provider", 40 * A0GI)
    sent = await broker.pool.fetchval("SELECT count(*) FROM transactions WHERE purpose = 'TOP_UP'")
    assert sent == 0
    refused = broker.server.deps.topups.refused
    samples = [s for m in refused.collect() for s in m.samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in samples] == [
        ({"provider": provider, "reason": "TOPUP_ABOVE_CAP"}, 1.0)
    ]

    # Usage recorded in the last 24 h raises the cap to twice that (10 A0GI -> 20 A0GI): still
    # too little for 41 A0GI, and the usage is recorded all the same, with the refusal.
    recorded = await broker.stub.RecordUsage(
        pb.RecordUsageRequest(request_id="u1", provider=provider, fee_neuron=str(10 * A0GI)),
        metadata=broker.md("inference"),
    )
    assert recorded.fee_neuron == str(10 * A0GI)
    assert recorded.top_up.error == "TOPUP_ABOVE_CAP" and not recorded.top_up.receipt.tx_hash
    assert int((await _last_top_up(broker))["cap_neuron"]) == 20 * A0GI

    # A figure the usage explains passes: 15 + 2 - 1 = 16 A0GI <= 20 A0GI.
    fake.unsettled = 15 * A0GI
    creds = await _credentials(broker, provider)
    assert creds.top_up.amount_neuron == str(16 * A0GI) and creds.top_up.receipt.tx_hash
    assert await _locked(broker, provider) == 17 * A0GI

    # TOPUP_MAX_NEURON overrides the derived cap: 1.5 A0GI needed, 1 A0GI allowed.
    strict = await start_broker(TOPUP_MAX_NEURON=str(A0GI))
    fake.unsettled = 16 * A0GI + A0GI // 2
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _credentials(strict, provider)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    row = await _last_top_up(broker)
    assert (row["error"], int(row["amount_neuron"]), int(row["cap_neuron"])) == (
        "TOPUP_ABOVE_CAP",
        A0GI + A0GI // 2,
        A0GI,
    )
    assert await _locked(broker, provider) == 17 * A0GI
    outcomes = await broker.pool.fetch("SELECT error, tx_hash IS NULL AS unsent FROM top_ups")
    assert sorted((r["error"], r["unsent"]) for r in outcomes) == [
        ("", False),
        ("TOPUP_ABOVE_CAP", True),
        ("TOPUP_ABOVE_CAP", True),
        ("TOPUP_ABOVE_CAP", True),
    ]
