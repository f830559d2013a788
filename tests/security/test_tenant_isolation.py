"""Chat sessions are per user: a caller acting for one user (the JWT's `user`) can neither read,
list, change nor delete another user's sessions. Storage namespaces: tests/storage."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import grpc
import pytest

from tests.stack import Stack
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.inference.v1.inference_service_pb2_grpc import ChatSessionServiceAsyncStub

REFUSED = (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND)


async def test_one_user_cannot_touch_another_users_sessions(stack: Stack) -> None:
    await stack.start("inference")
    stub: ChatSessionServiceAsyncStub = inference_service_pb2_grpc.ChatSessionServiceStub(
        stack.channels["inference"]
    )
    alice = stack.md("inference", "app", user="alice")
    bob = stack.md("inference", "app", user="bob")
    created = await stub.CreateChatSession(
        pb.CreateChatSessionRequest(request_id=uuid.uuid4().hex, title="alice's", model="m"),
        metadata=alice,
    )
    sid = created.session.session_id

    attempts: dict[str, Awaitable[object]] = {
        "get": stub.GetChatSession(pb.GetChatSessionRequest(session_id=sid), metadata=bob),
        "get as alice": stub.GetChatSession(
            pb.GetChatSessionRequest(session_id=sid, user="alice"), metadata=bob
        ),
        "list as alice": stub.ListChatSessions(
            pb.ListChatSessionsRequest(user="alice"), metadata=bob
        ),
        "delete": stub.DeleteChatSession(
            pb.DeleteChatSessionRequest(request_id=uuid.uuid4().hex, session_id=sid),
            metadata=bob,
        ),
        "archive": stub.ArchiveChatSession(
            pb.ArchiveChatSessionRequest(request_id=uuid.uuid4().hex, session_id=sid),
            metadata=bob,
        ),
        "send": stub.SendChatMessage(
            pb.SendChatMessageRequest(request_id=uuid.uuid4().hex, session_id=sid, content="hi"),
            metadata=bob,
        ),
    }
    for name, attempt in attempts.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await attempt
        assert refused.value.code() in REFUSED, (name, refused.value.code())

    listed = await stub.ListChatSessions(pb.ListChatSessionsRequest(), metadata=bob)
    assert sid not in [s.session_id for s in listed.sessions]
    mine = await stub.GetChatSession(pb.GetChatSessionRequest(session_id=sid), metadata=alice)
    assert mine.session.session_id == sid and mine.session.title == "alice's"
