"""Acceptance 5 (compression and restart; archive pending) through real servers."""

from __future__ import annotations

import grpc
import pytest

from tests.inference.conftest import StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb


async def test_a_long_session_is_compressed_and_survives_a_restart(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)
    md = inference.md(user="dana")
    created = await inference.sessions.CreateChatSession(
        pb.CreateChatSessionRequest(
            request_id="c",
            title="markets",
            system_prompt="You are terse.",
            model=trio.model,
            routing=pb.RoutingOptions(provider=trio.fast.provider),
        ),
        metadata=md,
    )
    sid = created.session.session_id
    compressed_at = []
    for turn in range(1, 13):  # 1 system + 24 messages = 25 messages sent through the session
        sent = await inference.sessions.SendChatMessage(
            pb.SendChatMessageRequest(
                request_id=f"m{turn}", session_id=sid, content=f"question {turn}"
            ),
            metadata=md,
        )
        assert sent.reply.role == pb.CHAT_ROLE_ASSISTANT and sent.reply.content
        if sent.compressed:
            compressed_at.append(turn)
    # Turn 10 makes 21 messages: compressed to system + summary + last 10.
    assert compressed_at == [10]

    await inference.server.stop(grace=None)
    again = await start_inference(trio.all)
    session = (
        await again.sessions.GetChatSession(pb.GetChatSessionRequest(session_id=sid), metadata=md)
    ).session
    roles = [(m.role, m.summary) for m in session.messages]
    assert roles[0] == (pb.CHAT_ROLE_SYSTEM, False)
    assert session.messages[0].content == "You are terse."
    assert roles[1] == (pb.CHAT_ROLE_SYSTEM, True)
    rest = session.messages[2:]
    # The last 10 kept at compression (questions 6-10 and their answers) plus turns 11 and 12.
    assert [m.content for m in rest if m.role == pb.CHAT_ROLE_USER] == [
        f"question {n}" for n in range(6, 13)
    ]
    assert len(rest) == 14 and session.compressions == 1
    assert session.tokens_used > 0 and session.last_provider.lower() == trio.fast.provider.lower()

    listed = await again.sessions.ListChatSessions(pb.ListChatSessionsRequest(), metadata=md)
    assert [s.session_id for s in listed.sessions] == [sid]
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await again.sessions.GetChatSession(
            pb.GetChatSessionRequest(session_id=sid), metadata=again.md(user="eve")
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await again.sessions.DeleteChatSession(
        pb.DeleteChatSessionRequest(request_id="d", session_id=sid), metadata=md
    )
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await again.sessions.GetChatSession(pb.GetChatSessionRequest(session_id=sid), metadata=md)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
