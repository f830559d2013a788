"""The fee cap sent with every Flow payment is the market's price when quoted: a price rise
between the quote and the payment is refused by the broker before anything is paid."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.rpc.error_details_pb2 import PreconditionFailure
from web3 import Web3
from web3.types import TxParams

from devnet import Devnet
from devnet.deploy import Transactor
from devnet.storage_node import StorageNetwork
from tests.storage.conftest import StartStorage, Storage
from tests.storage.helpers import content, create_namespace, namespace_name, put, rid
from zerog_grpc import unpack_detail
from zerog_storage import FileMerkleTree
from zerog_storage.hashing import keccak256

SET_PRICE = keccak256(b"setPricePerSector(uint256)")[:4]


def _set_price(deployer: Transactor, market: str, price: int) -> None:
    tx: TxParams = {
        "to": Web3.to_checksum_address(market),
        "data": SET_PRICE + price.to_bytes(32, "big"),
    }
    deployer.send(tx)


async def _until(probe: object, what: str) -> None:
    for _ in range(400):
        if await probe():  # type: ignore[operator]
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never saw: {what}")


async def test_price_rise_after_the_quote_is_refused_before_paying(
    storage_network: StorageNetwork,
    running_devnet: Devnet,
    deployer: Transactor,
    start_storage: StartStorage,
) -> None:
    storage: Storage = await start_storage([n.url for n in storage_network.nodes])
    assert storage.config.rpc_url, "fees are only capped when ZG_RPC_URL is set"
    user = f"fee-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("fee"), user=user)).name
    data = content(3000)
    request_id = rid()
    market = running_devnet.state.contracts.fixed_price_market
    price = running_devnet.state.price_per_sector
    paid_before = await storage.broker.pool.fetchval("SELECT count(*) FROM transactions")

    # Park the upload in quota (its usage row locked), then hold its journal row, so it stops
    # right after quoting the fee and before asking the broker to pay.
    quota_conn = await storage.quota.pool.acquire()
    journal_conn = await storage.pool.acquire()
    quota_tx = quota_conn.transaction()
    journal_tx = journal_conn.transaction()
    try:
        await quota_tx.start()
        await quota_conn.execute(
            "INSERT INTO usage (subject, unit, period) VALUES ($1, 'storage_bytes', 'all')"
            " ON CONFLICT DO NOTHING",
            f"user:{user}",
        )
        await quota_conn.execute(
            "SELECT 1 FROM usage WHERE subject = $1 FOR UPDATE", f"user:{user}"
        )
        upload = asyncio.create_task(put(storage, ns, "f", data, user=user, request_id=request_id))

        async def journalled() -> bool:
            return bool(
                await storage.pool.fetchval("SELECT count(*) FROM uploads WHERE namespace = $1", ns)
            )

        await _until(journalled, "the upload journalled")
        await journal_tx.start()
        await journal_conn.execute("SELECT 1 FROM uploads WHERE namespace = $1 FOR UPDATE", ns)
        await quota_tx.rollback()

        async def quoted() -> bool:
            waiting = await storage.pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query LIKE 'UPDATE uploads SET state%'"
            )
            return bool(waiting)

        await _until(quoted, "the fee quoted and the payment about to be asked for")
        await asyncio.to_thread(_set_price, deployer, market, 2 * price)
        await journal_tx.rollback()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload
    finally:
        await storage.quota.pool.release(quota_conn)
        await storage.pool.release(journal_conn)
        await asyncio.to_thread(_set_price, deployer, market, price)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    failure = unpack_detail(caught.value, PreconditionFailure)
    assert failure is not None and failure.violations[0].subject == "max_fee_neuron"
    # Nothing paid, nothing submitted.
    assert await storage.broker.pool.fetchval("SELECT count(*) FROM transactions") == paid_before
    identity = FileMerkleTree.from_bytes(data).submission().identity
    logs = running_devnet.web3().eth.get_logs(
        {
            "address": Web3.to_checksum_address(running_devnet.state.contracts.flow),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [None, None, "0x" + identity.hex()],
        }
    )
    assert logs == []
