"""Acceptance 6: the wallet key appears in no log line, error, table or reflection answer."""

from __future__ import annotations

import logging

import grpc
import pytest
from eth_account import Account

from devnet import A0GI
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb


async def test_private_key_never_leaks(broker: Broker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = bytes(broker.account.key).hex()
    await broker.stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c", initial_deposit_neuron=str(3 * A0GI)),
        metadata=broker.md(),
    )
    errors = []
    for request in (
        pb.TransferToProviderRequest(
            request_id="t", provider=Account.create().address, amount_neuron=str(A0GI)
        ),
        pb.TransferToProviderRequest(request_id="", provider="bad", amount_neuron="x"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await broker.stub.TransferToProvider(request, metadata=broker.md())
        errors.append(f"{raised.value.details()} {raised.value.trailing_metadata()}")

    dump: list[str] = []
    tables = await broker.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'broker'"
    )
    for t in tables:
        rows = await broker.pool.fetch(f"SELECT * FROM broker.{t['table_name']}")
        dump.extend(str(dict(r)) for r in rows)
    text = "\n".join(
        [caplog.text, *errors, *dump, repr(broker.server.deps), repr(broker.server.deps.wallet)]
    )
    assert dump  # the tables do hold the transactions
    assert key not in text.lower()
    assert key[:16] not in text.lower()
