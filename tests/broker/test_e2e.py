"""Acceptance 1 and 7: ledger -> deposit -> transfer -> list -> acknowledge -> credentials ->
call the devnet provider; then usage, verification and the settlement report."""

from __future__ import annotations

import httpx

from devnet import A0GI
from devnet.provider.process import ProviderProcess
from tests.broker.conftest import Broker
from zerog.broker.v1 import broker_service_pb2 as pb


async def test_ledger_to_provider_call_end_to_end(
    broker: Broker, devnet_provider: ProviderProcess
) -> None:
    stub, md = broker.stub, broker.md()
    provider = devnet_provider.provider

    created = await stub.CreateLedger(
        pb.CreateLedgerRequest(request_id="c1", initial_deposit_neuron=str(3 * A0GI)), metadata=md
    )
    assert created.ledger.total_neuron == str(3 * A0GI)
    deposit = await stub.Deposit(
        pb.DepositRequest(request_id="d1", amount_neuron=str(5 * A0GI)), metadata=md
    )
    assert deposit.ledger.total_neuron == str(8 * A0GI)
    transfer = await stub.TransferToProvider(
        pb.TransferToProviderRequest(
            request_id="t1", provider=provider, amount_neuron=str(3 * A0GI)
        ),
        metadata=md,
    )
    assert transfer.sub_account.balance_neuron == str(3 * A0GI)
    listed = await stub.ListProviders(pb.ListProvidersRequest(), metadata=md)
    assert provider.lower() in {p.address.lower() for p in listed.providers}
    ack = await stub.AcknowledgeProvider(
        pb.AcknowledgeProviderRequest(request_id="a1", provider=provider), metadata=md
    )
    assert ack.sub_account.acknowledged
    creds = await stub.GetRequestCredentials(
        pb.GetRequestCredentialsRequest(provider=provider), metadata=auth_md(broker)
    )
    assert creds.authorization.startswith("Bearer app-sk-")

    body = {"model": creds.model, "messages": [{"role": "user", "content": "hello"}]}
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            f"{creds.endpoint}/chat/completions",
            json=body,
            headers={"Authorization": creds.authorization},
        )
    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    chat_id = reply.headers.get("ZG-Res-Key") or reply.json()["id"]

    recorded = await stub.RecordUsage(
        pb.RecordUsageRequest(
            request_id="u1",
            provider=provider,
            input_tokens=usage["prompt_tokens"],
            output_tokens=usage["completion_tokens"],
            chat_id=chat_id,
        ),
        metadata=auth_md(broker),
    )
    assert int(recorded.fee_neuron) > 0
    if creds.verifiable:
        verified = await stub.VerifyResponse(
            pb.VerifyResponseRequest(
                request_id="v1",
                provider=provider,
                chat_id=chat_id,
                request_body=reply.request.content,
                response_body=reply.content,
            ),
            metadata=auth_md(broker),
        )
        assert verified.valid, verified.reason
        # The verdict is recorded with the stored answer; a retry replays it, once.
        again = await stub.VerifyResponse(
            pb.VerifyResponseRequest(
                request_id="v1",
                provider=provider,
                chat_id=chat_id,
                request_body=reply.request.content,
                response_body=reply.content,
            ),
            metadata=auth_md(broker),
        )
        assert again == verified
        rows = await broker.pool.fetch(
            "SELECT provider, chat_id, valid, signing_address FROM verifications"
            " WHERE request_id = 'v1'"
        )
        assert [tuple(r) for r in rows] == [(provider, chat_id, True, verified.signing_address)]

    devnet_provider.settle()
    report = await stub.GetSettlementReport(
        pb.GetSettlementReportRequest(provider=provider), metadata=md
    )
    row = report.providers[0]
    assert row.recorded_fee_neuron == recorded.fee_neuron
    assert row.settled_fee_neuron == recorded.fee_neuron
    assert row.outstanding_neuron == "0"


def auth_md(broker: Broker) -> tuple[tuple[str, str], ...]:
    return broker.md("inference")
