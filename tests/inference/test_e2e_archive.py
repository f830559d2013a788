"""Acceptance 5 (the archive): a session archived through the real storage service (devnet
storage nodes, Flow paid by the real broker) reads back from storage exactly as archived."""

from __future__ import annotations

import hashlib
import json

import grpc
import pytest
from google.protobuf.json_format import ParseDict

from devnet.storage_node import StorageNetwork
from tests.inference.conftest import Inference, StartInference, Trio
from zerog.inference.v1 import inference_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2 as spb


async def read_back(inference: Inference, archive_id: str) -> tuple[spb.Object, bytes]:
    """GetObject of `<namespace>/<name>` as inference (the namespace's owner)."""
    assert inference.storage is not None
    namespace, name = archive_id.split("/", 1)
    call = inference.storage.GetObject(
        spb.GetObjectRequest(namespace=namespace, name=name), metadata=inference.storage_md()
    )
    head: spb.Object | None = None
    data = b""
    async for part in call:
        if part.WhichOneof("part") == "object":
            head = part.object
        else:
            data += part.chunk
    assert head is not None
    return head, data


async def test_an_archived_session_reads_back_from_storage(
    start_inference: StartInference, trio: Trio, storage_network: StorageNetwork
) -> None:
    inference = await start_inference(
        trio.all, storage_nodes=[n.url for n in storage_network.nodes]
    )
    md = inference.md(user="erin")
    created = await inference.sessions.CreateChatSession(
        pb.CreateChatSessionRequest(
            request_id="c", title="to keep", system_prompt="Be brief.", model=trio.model
        ),
        metadata=md,
    )
    sid = created.session.session_id
    for turn in (1, 2):
        await inference.sessions.SendChatMessage(
            pb.SendChatMessageRequest(request_id=f"m{turn}", session_id=sid, content=f"q {turn}"),
            metadata=md,
        )
    before = (
        await inference.sessions.GetChatSession(
            pb.GetChatSessionRequest(session_id=sid), metadata=md
        )
    ).session

    archived = await inference.sessions.ArchiveChatSession(
        pb.ArchiveChatSessionRequest(request_id="a1", session_id=sid), metadata=md
    )

    assert archived.session.state == pb.CHAT_SESSION_STATE_ARCHIVED
    assert archived.session.archive_id == f"inference-chat-archives.{sid}/sessions/{sid}.json"
    head, data = await read_back(inference, archived.session.archive_id)
    assert head.size == len(data) and head.sha256 == hashlib.sha256(data).hexdigest()
    assert head.content_type == "application/json" and head.root.startswith("0x")
    assert dict(head.metadata) == {"user": "erin", "session_id": sid}
    stored = ParseDict(json.loads(data), pb.ChatSession())
    # Exactly the session as it was when archived: every message, its tokens and provider.
    assert stored == before
    assert [m.content for m in stored.messages][:2] == ["Be brief.", "q 1"]
    assert len(stored.messages) == 5

    # Archiving again answers with the same archive (no second object version).
    again = await inference.sessions.ArchiveChatSession(
        pb.ArchiveChatSessionRequest(request_id="a2", session_id=sid), metadata=md
    )
    assert again.session.archive_id == archived.session.archive_id
    head_again, _ = await read_back(inference, again.session.archive_id)
    assert head_again.version == head.version
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.sessions.SendChatMessage(
            pb.SendChatMessageRequest(request_id="m3", session_id=sid, content="more"),
            metadata=md,
        )
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_deleting_an_archived_session_deletes_its_key(
    start_inference: StartInference, trio: Trio, storage_network: StorageNetwork
) -> None:
    """The archive's namespace is the session's: its key goes with the session."""
    inference = await start_inference(
        trio.all, storage_nodes=[n.url for n in storage_network.nodes]
    )
    md = inference.md(user="erin")
    created = await inference.sessions.CreateChatSession(
        pb.CreateChatSessionRequest(request_id="c-del", title="to forget", model=trio.model),
        metadata=md,
    )
    sid = created.session.session_id
    archived = await inference.sessions.ArchiveChatSession(
        pb.ArchiveChatSessionRequest(request_id="a-del", session_id=sid), metadata=md
    )
    namespace = archived.session.archive_id.split("/", 1)[0]
    keys = "SELECT count(*) FROM storage.namespace_keys WHERE namespace = $1"
    assert await inference.pool.fetchval(keys, namespace) == 1

    await inference.sessions.DeleteChatSession(
        pb.DeleteChatSessionRequest(request_id="d-del", session_id=sid), metadata=md
    )

    assert await inference.pool.fetchval(keys, namespace) == 0
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await read_back(inference, archived.session.archive_id)
    assert raised.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
