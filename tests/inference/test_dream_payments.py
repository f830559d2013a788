"""AnalyzeDream is paid by the wallet user who signed for it (seed 004): the signed intent is
required, the balance is checked before any model is asked, the fee the broker records for the
call is debited once (never below zero), and the answer carries the cost and what remains."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2
from web3 import Web3

from devnet import A0GI
from tests.inference.conftest import Inference, StartInference, Trio
from tests.wallet_users import WalletUser, deposit, dream_intent, funded_user
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog_grpc import unpack_detail
from zerog_signing import IntentAction

DREAM = "I was flying over a flooded city and my teeth fell out."


def _request(trio: Trio, request_id: str, intent: pb.WalletIntent | None) -> pb.AnalyzeDreamRequest:
    return pb.AnalyzeDreamRequest(
        request_id=request_id, subject="user:dora", model=trio.model, dream=DREAM, intent=intent
    )


async def _refusal(inference: Inference, request: pb.AnalyzeDreamRequest) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.chat.AnalyzeDream(request, metadata=inference.md())
    return raised.value


def _reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str]:
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    return error.code(), info.reason if info is not None else ""


async def _account(inference: Inference, user: WalletUser, nonce: str) -> bpb.UserAccount:
    broker = inference.broker
    answer = await broker.stub.GetUserBalance(
        bpb.GetUserBalanceRequest(intent=user.intent(IntentAction.BALANCE, nonce)),
        metadata=broker.md("inference"),
    )
    return answer.account


async def _usage_rows(inference: Inference) -> int:
    await inference.settled()
    return int(await inference.broker.pool.fetchval("SELECT count(*) FROM usage"))


async def test_a_reading_is_paid_once_from_the_signers_balance(
    start_inference: StartInference, trio: Trio, devnet_w3: Web3
) -> None:
    inference = await start_inference(trio.all)
    broker = inference.broker
    dora = await funded_user(
        broker.stub, broker.md("inference"), devnet_w3, broker.account.address, A0GI
    )
    stranger = WalletUser.new(devnet_w3)

    missing = await _refusal(inference, _request(trio, "d0", None))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = unpack_detail(missing, error_details_pb2.BadRequest)
    assert bad is not None and [v.field for v in bad.field_violations] == ["intent"]
    forged = dream_intent(stranger, "x1")
    forged.message = forged.message.replace(stranger.address, dora.address)
    assert _reason(await _refusal(inference, _request(trio, "d0", forged)))[0] == (
        grpc.StatusCode.UNAUTHENTICATED
    )

    request = _request(trio, "d1", dream_intent(dora, "a1"))
    reply = await inference.chat.AnalyzeDream(request, metadata=inference.md())

    fee = int(reply.cost.fee_neuron)
    assert fee > 0 and reply.interpretation and reply.symbols
    assert reply.charge.address == dora.address
    assert reply.charge.charged_neuron == str(fee)
    assert reply.charge.remaining_balance_neuron == str(A0GI - fee)
    assert reply.charge.remaining_balance_a0gi
    # A retry gets the first answer: one model call, one debit.
    assert await inference.chat.AnalyzeDream(request, metadata=inference.md()) == reply
    account = await _account(inference, dora, "b1")
    assert (account.spent_neuron, account.balance_neuron) == (str(fee), str(A0GI - fee))
    # The debit is the fee the broker records for the call, under the same usage id.
    assert await _usage_rows(inference) == 1
    row = await broker.pool.fetchrow(
        "SELECT c.charged_neuron, u.fee_neuron FROM user_charges c"
        " JOIN usage u ON u.caller = c.caller AND u.request_id = c.usage_id"
    )
    assert row is not None and int(row["charged_neuron"]) == int(row["fee_neuron"]) == fee

    # The same signed intent for another reading is a replay: refused before any model call.
    code, reason = _reason(await _refusal(inference, _request(trio, "d2", request.intent)))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "REPLAYED_NONCE")
    assert await _usage_rows(inference) == 1
    assert (await _account(inference, dora, "b2")).balance_neuron == str(A0GI - fee)


async def test_a_balance_too_low_is_refused_before_any_model_is_asked(
    start_inference: StartInference, trio: Trio, devnet_w3: Web3
) -> None:
    inference = await start_inference(trio.all, DREAM_MIN_BALANCE_NEURON=str(A0GI // 10))
    broker = inference.broker
    md = broker.md("inference")
    poor = await funded_user(broker.stub, md, devnet_w3, broker.account.address, A0GI // 100)
    request = _request(trio, "d1", dream_intent(poor, "a1"))

    refused = await _refusal(inference, request)
    assert _reason(refused) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "INSUFFICIENT_BALANCE")
    quota = unpack_detail(refused, error_details_pb2.QuotaFailure)
    assert quota is not None and quota.violations[0].subject == f"wallet:{poor.address}"
    assert await _usage_rows(inference) == 0
    assert (await _account(inference, poor, "b1")).balance_neuron == str(A0GI // 100)

    # Nothing was spent, not even the intent: once funded, the same request is answered.
    await deposit(broker.stub, md, poor, broker.account.address, A0GI, "more")
    reply = await inference.chat.AnalyzeDream(request, metadata=inference.md())
    fee = int(reply.cost.fee_neuron)
    assert reply.charge.remaining_balance_neuron == str(A0GI + A0GI // 100 - fee)
