"""The chain RPC slow: a caller's deadline is honoured, a slow chain is not a down one, and the
call cut by the deadline can be retried with its request id and lands once. The slowness is a
real delay on every chain reply between the broker and anvil."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

from devnet import A0GI
from tests.faults.tcp_proxy import TcpProxy
from tests.retrying import once_done
from tests.stack import Stack
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub


async def test_chain_rpc_slow_hits_the_deadline_and_a_retry_lands_once(
    stack: Stack, proxy: TcpProxy
) -> None:
    await stack.start("broker", env={"broker": {"ZG_RPC_URL": f"http://127.0.0.1:{proxy.port}"}})
    stub: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(
        stack.channels["broker"]
    )
    assert await stub.GetWallet(pb.GetWalletRequest(), metadata=stack.md("broker"), timeout=30)

    # Every chain reply now takes 2 s: a caller with a 1 s deadline gets DEADLINE_EXCEEDED while
    # the broker carries the payment on (a hung-up caller never leaves money half-moved).
    proxy.delay = 2.0
    ledger = pb.CreateLedgerRequest(request_id="slow-chain", initial_deposit_neuron=str(3 * A0GI))
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=1)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # Slow is not down: without a short deadline the broker still answers.
    slow = await stub.GetWallet(pb.GetWalletRequest(), metadata=stack.md("broker"), timeout=60)
    assert slow.address

    proxy.delay = 0.0
    # A retry while that first attempt still runs is told to come back (REQUEST_IN_PROGRESS)
    # until its answer is there.
    created = await once_done(
        lambda: stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=60)
    )
    again = await stub.CreateLedger(ledger, metadata=stack.md("broker"), timeout=60)
    assert created == again
    sent = await stack.pools["broker"].fetchval("SELECT count(*) FROM transactions")
    assert sent == 1
    account = await stub.GetLedger(pb.GetLedgerRequest(), metadata=stack.md("broker"), timeout=30)
    assert int(account.ledger.total_neuron) == 3 * A0GI
