"""The chain RPC refusing connections: the broker answers UNAVAILABLE (retryable) and recovers by
itself once the RPC is back. The outage is a real TCP cut between the broker and anvil."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import grpc
import pytest

from devnet import A0GI
from tests.faults.tcp_proxy import TcpProxy
from tests.stack import Stack
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub


async def _wallet(stub: BrokerServiceAsyncStub, stack: Stack) -> grpc.StatusCode:
    try:
        await stub.GetWallet(pb.GetWalletRequest(), metadata=stack.md("broker"), timeout=30)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_chain_rpc_refusing_is_unavailable_then_recovers(
    stack: Stack, proxy: TcpProxy
) -> None:
    await stack.start("broker", env={"broker": {"ZG_RPC_URL": f"http://127.0.0.1:{proxy.port}"}})
    stub: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(
        stack.channels["broker"]
    )
    assert await _wallet(stub, stack) == grpc.StatusCode.OK

    await proxy.cut()
    assert await _wallet(stub, stack) == grpc.StatusCode.UNAVAILABLE
    ledger = pb.CreateLedgerRequest(
        request_id="during-outage", initial_deposit_neuron=str(3 * A0GI)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    await proxy.restore()
    for _ in range(100):
        if await _wallet(stub, stack) == grpc.StatusCode.OK:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the broker never recovered after the chain RPC came back")
    # The refused write can be retried with the same request id, and lands once.
    created = await stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=60)
    again = await stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=60)
    assert created == again
    sent = await stack.pools["broker"].fetchval("SELECT count(*) FROM transactions")
    assert sent == 1
