"""Chat sessions through the server: streamed messages and their retries, the portfolio
context and its 15-minute staleness (wall clock injected through server.start(now=...)),
a provider stream that breaks midway (billed for what arrived, the rest released), and a
compression that fails after the exchange is stored (the retry replays, nothing is doubled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2

from services.inference.tokens import count_messages, count_text
from tests.inference.conftest import Inference, StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog_grpc import unpack_detail

USD = 1_000_000
CONTEXT = pb.PortfolioContext(
    positions=[pb.Position(symbol="ETH", quantity="2", cost_basis_micro_usd=200 * USD)],
    price_history=[pb.PriceSeries(symbol="ETH", close_micro_usd=[100 * USD, 120 * USD])],
    notes="long term",
)


class WallClock:
    """The inference server's wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def _session(inference: Inference, trio: Trio, user: str, **fields: object) -> str:
    created = await inference.sessions.CreateChatSession(
        pb.CreateChatSessionRequest(
            request_id=f"create-{user}",
            model=trio.model,
            routing=pb.RoutingOptions(provider=trio.cheap.provider),
            **fields,  # type: ignore[arg-type]
        ),
        metadata=inference.md(user=user),
    )
    return created.session.session_id


async def _stream(
    inference: Inference, request: pb.SendChatMessageRequest, user: str
) -> tuple[list[str], list[pb.SendChatMessageResponse]]:
    call = inference.sessions.StreamChatMessage(
        pb.StreamChatMessageRequest(request=request), metadata=inference.md(user=user)
    )
    deltas, results = [], []
    async for message in call:
        if message.HasField("result"):
            results.append(message.result)
        else:
            deltas.append(message.content_delta)
    return deltas, results


async def test_a_streamed_message_is_stored_and_its_retry_replays_the_answer(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    sid = await _session(inference, trio, "sam")
    request = pb.SendChatMessageRequest(request_id="s1", session_id=sid, content="hi stream")
    served = trio.cheap.status()["requests_served"]

    deltas, (result,) = await _stream(inference, request, "sam")

    assert len(deltas) > 1 and "".join(deltas) == result.reply.content
    assert [(m.role, m.content) for m in result.session.messages] == [
        (pb.CHAT_ROLE_USER, "hi stream"),
        (pb.CHAT_ROLE_ASSISTANT, result.reply.content),
    ]
    assert result.usage.completion_tokens == len(result.reply.content.split())
    assert result.routing.provider.lower() == trio.cheap.provider.lower()
    # The retry is answered from the record in one piece: no provider call, no new message.
    replay_deltas, (replayed,) = await _stream(inference, request, "sam")
    assert replay_deltas == [] and replayed == result
    unary = await inference.sessions.SendChatMessage(request, metadata=inference.md(user="sam"))
    assert unary == result
    assert trio.cheap.status()["requests_served"] == served + 1
    session = await inference.sessions.GetChatSession(
        pb.GetChatSessionRequest(session_id=sid), metadata=inference.md(user="sam")
    )
    assert len(session.session.messages) == 2


async def test_portfolio_context_is_flagged_stale_after_15_minutes(
    start_inference: StartInference, trio: Trio
) -> None:
    clock = WallClock()
    inference = await start_inference(trio.all, now=clock)
    md = inference.md(user="pia")
    sid = await _session(inference, trio, "pia", portfolio_context=CONTEXT)

    clock.now += timedelta(minutes=15)
    fresh = await inference.sessions.SendChatMessage(
        pb.SendChatMessageRequest(request_id="m1", session_id=sid, content="how am I doing"),
        metadata=md,
    )
    assert not fresh.context_stale and not fresh.session.context_stale

    clock.now += timedelta(seconds=1)
    stale = await inference.sessions.SendChatMessage(
        pb.SendChatMessageRequest(request_id="m2", session_id=sid, content="and now"),
        metadata=md,
    )
    assert stale.context_stale and stale.session.context_stale
    # The model was told: the stale note adds words to the same-shaped prompt.
    assert stale.usage.prompt_tokens > fresh.usage.prompt_tokens

    newer = pb.PortfolioContext()
    newer.CopyFrom(CONTEXT)
    newer.notes = "sold nothing"
    updated = await inference.sessions.UpdatePortfolioContext(
        pb.UpdatePortfolioContextRequest(request_id="u1", session_id=sid, portfolio_context=newer),
        metadata=md,
    )
    assert updated.session.portfolio_context == newer and not updated.session.context_stale
    assert updated.session.context_update_time.ToDatetime(UTC) == clock.now
    again = await inference.sessions.UpdatePortfolioContext(
        pb.UpdatePortfolioContextRequest(request_id="u1", session_id=sid, portfolio_context=newer),
        metadata=md,
    )
    assert again == updated
    after = await inference.sessions.SendChatMessage(
        pb.SendChatMessageRequest(request_id="m3", session_id=sid, content="and now"),
        metadata=md,
    )
    assert not after.context_stale


async def test_a_stream_broken_midway_bills_what_arrived_and_releases_the_rest(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    # Reservations per call (no budget leases): the test follows one reservation's end.
    inference = await start_inference(trio.all, LEASE_TOKENS="0")
    sid = await _session(inference, trio, "bea")
    trio.cheap.set_knobs(token_delay_ms=500)
    question = "tell me everything"
    call = inference.sessions.StreamChatMessage(
        pb.StreamChatMessageRequest(
            request=pb.SendChatMessageRequest(request_id="b1", session_id=sid, content=question)
        ),
        metadata=inference.md(user="bea"),
    )
    deltas = []
    for _ in range(2):
        first = await call.read()
        assert isinstance(first, pb.StreamChatMessageResponse)
        deltas.append(first.content_delta)
    trio.cheap.set_knobs(outage="drop")  # the provider drops its connections, this one too
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        while (message := await call.read()) is not grpc.aio.EOF:
            assert isinstance(message, pb.StreamChatMessageResponse)
            deltas.append(message.content_delta)

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "STREAM_INTERRUPTED", raised.value.details()
    # No usage came from the provider: what arrived is counted locally and committed; the
    # rest of the reservation is released.
    used = count_messages([question]) + count_text("".join(deltas))
    await inference.settled()  # the settler commits it off the request path
    standing = await inference.quota.stub.GetQuota(
        qpb.GetQuotaRequest(subject="user:bea"), metadata=inference.quota.as_service()
    )
    tokens = next(u for u in standing.usages if u.unit == qpb.UNIT_COMPUTE_TOKENS)
    assert (tokens.reserved, tokens.used) == (0, used)
    records = await inference.quota.stub.ListCostRecords(
        qpb.ListCostRecordsRequest(subject="user:bea"), metadata=inference.quota.as_service()
    )
    assert [r.items[0].amount for r in records.cost_records] == [used]
    # Nothing half-written: the session holds no message of the broken exchange.
    session = await inference.sessions.GetChatSession(
        pb.GetChatSessionRequest(session_id=sid), metadata=inference.md(user="bea")
    )
    assert list(session.session.messages) == []

    # Once the provider is back, the same request_id gets a whole answer (nothing was stored).
    trio.cheap.set_knobs(outage="none", token_delay_ms=0)
    retried, (result,) = await _stream(
        inference,
        pb.SendChatMessageRequest(request_id="b1", session_id=sid, content=question),
        "bea",
    )
    assert "".join(retried) == result.reply.content and len(result.session.messages) == 2
    # The broken stream was the same answer, cut short.
    assert 2 <= len(deltas) < len(retried) and retried[: len(deltas)] == deltas


async def test_a_retry_after_the_exchange_is_stored_but_compression_failed_replays_it(
    start_inference: StartInference, trio: Trio, reset_knobs: None
) -> None:
    inference = await start_inference(trio.all)
    md = inference.md(user="cleo")
    sid = await _session(inference, trio, "cleo", system_prompt="You are terse.")
    for turn in range(1, 10):  # 1 system + 18 messages: one exchange short of compression
        sent = await inference.sessions.SendChatMessage(
            pb.SendChatMessageRequest(request_id=f"q{turn}", session_id=sid, content=f"q {turn}"),
            metadata=md,
        )
        assert not sent.compressed
    tenth = pb.SendChatMessageRequest(request_id="q10", session_id=sid, content="q 10")
    trio.cheap.set_knobs(token_delay_ms=300)
    call = inference.sessions.StreamChatMessage(
        pb.StreamChatMessageRequest(request=tenth), metadata=md
    )
    for _ in range(2):
        assert isinstance(await call.read(), pb.StreamChatMessageResponse)
    # The answer in flight completes; the summary call that compression makes next gets 500s.
    trio.cheap.set_knobs(error_rate=1.0)
    results, broken = [], None
    try:
        while (message := await call.read()) is not grpc.aio.EOF:
            assert isinstance(message, pb.StreamChatMessageResponse)
            if message.HasField("result"):
                results.append(message.result)
    except grpc.aio.AioRpcError as error:
        broken = error
    trio.cheap.set_knobs(error_rate=0.0, token_delay_ms=0)
    served = trio.cheap.status()["requests_served"]

    retried = await inference.sessions.SendChatMessage(tenth, metadata=md)
    stored = await inference.sessions.GetChatSession(
        pb.GetChatSessionRequest(session_id=sid), metadata=md
    )
    asked = [m.content for m in stored.session.messages if m.role == pb.CHAT_ROLE_USER]
    # The exchange is in the history once and the provider was not called again.
    assert asked == [f"q {n}" for n in range(1, 11)]
    assert trio.cheap.status()["requests_served"] == served
    # The stream got the answer (uncompressed) and the retry replays exactly that.
    assert broken is None and len(results) == 1
    assert not results[0].compressed and retried == results[0]

    # The next message compresses what the failed compression left: questions 7-11 are kept.
    inference.breaker_clock.now += 60  # the 500s may have opened the provider's breaker
    eleventh = await inference.sessions.SendChatMessage(
        pb.SendChatMessageRequest(request_id="q11", session_id=sid, content="q 11"), metadata=md
    )
    assert eleventh.compressed and eleventh.session.compressions == 1
    kept = [m.content for m in eleventh.session.messages if m.role == pb.CHAT_ROLE_USER]
    assert kept == [f"q {n}" for n in range(7, 12)]
