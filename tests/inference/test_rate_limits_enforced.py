"""Rate limits of dream analysis, enforced by inference before anything is spent (seed 004: 10
a minute and 100 a day per wallet address), across two replicas that share one quota."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from web3 import Web3

from devnet import A0GI
from tests.inference.conftest import Inference, StartInference, Trio
from tests.wallet_users import WalletUser, dream_intent, funded_user
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail
from zerog_signing import IntentAction

DREAM = "A staircase kept growing under my feet while the sea climbed after me."


def _request(trio: Trio, user: WalletUser, n: int) -> pb.AnalyzeDreamRequest:
    return pb.AnalyzeDreamRequest(
        request_id=f"dream-{n}",
        subject="user:dora",
        model=trio.model,
        dream=DREAM,
        intent=dream_intent(user, f"n{n}"),
    )


async def _spent(
    inference: Inference, trio: Trio, user: WalletUser, nonce: str
) -> tuple[object, ...]:
    """What the calls so far spent: provider calls, broker usage rows, the user's balance,
    quota's cost records and what it still holds for the subject's calls."""
    await inference.settled()
    broker = inference.broker
    balance = await broker.stub.GetUserBalance(
        bpb.GetUserBalanceRequest(intent=user.intent(IntentAction.BALANCE, nonce)),
        metadata=broker.md("inference"),
    )
    quota = inference.quota.pool
    return (
        sum(p.status()["requests_served"] for p in trio.all),
        await broker.pool.fetchval("SELECT count(*) FROM usage"),
        balance.account.balance_neuron,
        await quota.fetchval("SELECT count(*) FROM cost_records"),
        await quota.fetchval("SELECT coalesce(sum(used), 0) FROM usage"),
        await quota.fetchval("SELECT count(*) FROM reservations WHERE state = 'reserved'"),
    )


async def test_the_eleventh_reading_in_a_minute_is_refused_on_either_replica_unspent(
    start_inference: StartInference, trio: Trio, devnet_w3: Web3
) -> None:
    first = await start_inference(trio.all)
    second = await start_inference(trio.all)
    broker = first.broker
    dora = await funded_user(
        broker.stub, broker.md("inference"), devnet_w3, broker.account.address, A0GI
    )

    # Ten readings a minute, five on each replica, two at a time: all answered.
    replicas = (first, second)
    for pair in range(5):
        await asyncio.gather(
            *(
                replicas[i].chat.AnalyzeDream(
                    _request(trio, dora, 2 * pair + i), metadata=first.md()
                )
                for i in range(2)
            )
        )
    before = await _spent(first, trio, dora, "b1")
    assert before[1] == 10

    # The eleventh, on either replica, is refused with when a slot frees; nothing is spent.
    eleventh = _request(trio, dora, 10)
    for replica in replicas:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await replica.chat.AnalyzeDream(eleventh, metadata=first.md())
        assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        retry = unpack_detail(raised.value, error_details_pb2.RetryInfo)
        assert retry is not None and 0 < retry.retry_delay.ToTimedelta().total_seconds() <= 60
        failure = unpack_detail(raised.value, error_details_pb2.QuotaFailure)
        assert failure is not None
        assert failure.violations[0].subject == f"wallet:{dora.address}:AnalyzeDream"
        info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
        assert info is not None and info.reason == "RATE_LIMITED"
        assert dict(info.metadata) == {"window_seconds": "60", "max_requests": "10"}
    assert await _spent(first, trio, dora, "b2") == before

    # Once the minute has passed, the very same request (its intent unspent) is answered.
    first.quota.clock.advance(seconds=61)
    reply = await second.chat.AnalyzeDream(eleventh, metadata=first.md())
    assert reply.charge.address == dora.address
    assert (await _spent(first, trio, dora, "b3"))[1] == 11


async def test_a_hot_wallet_with_room_is_admitted_without_a_quota_call_each(
    start_inference: StartInference, trio: Trio, devnet_w3: Web3
) -> None:
    inference = await start_inference(trio.all)
    quota = inference.quota
    await quota.stub.SetRateLimit(
        qpb.SetRateLimitRequest(
            limit=qpb.RateLimit(
                method="AnalyzeDream", window=Duration(seconds=60), max_requests=1000
            )
        ),
        metadata=quota.as_service("admin"),
    )
    broker = inference.broker
    dora = await funded_user(
        broker.stub, broker.md("inference"), devnet_w3, broker.account.address, A0GI
    )
    for n in range(5):
        await inference.chat.AnalyzeDream(_request(trio, dora, n), metadata=inference.md())
    # One grant served the five readings: quota counted 20 permits taken by this replica.
    grants = await quota.pool.fetch(
        "SELECT permits, returned FROM rate_grants WHERE subject = $1",
        f"wallet:{dora.address}",
    )
    assert [(g["permits"], g["returned"]) for g in grants] == [(20, 0)]
    # Stopping the replica gives the fifteen it did not use back.
    assert inference.server.rates is not None
    await inference.server.rates.stop()
    returned = await quota.pool.fetchval(
        "SELECT returned FROM rate_grants WHERE subject = $1", f"wallet:{dora.address}"
    )
    assert returned == 15
