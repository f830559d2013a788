"""What a running server says it serves (gRPC reflection), and calling any of it generically."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf.descriptor import Descriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc.error_details_pb2 import ErrorInfo
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from zerog_grpc import unpack_detail
from zerog_grpc.auth import PUBLIC_SERVICES


@dataclass(frozen=True)
class Method:
    """One RPC as reflection describes it."""

    service: str
    name: str
    input: Descriptor
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def unary(self) -> bool:
        return not (self.client_streaming or self.server_streaming)

    def request(self, **fields: Any) -> Message:
        """A request message of the method's input type."""
        message: Message = GetMessageClass(self.input)(**fields)
        return message


def _discover(address: str) -> list[Method]:
    # The reflection client is synchronous: run it in a thread, off the servers' event loop.
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = DescriptorPool(database)
        methods = []
        for name in database.get_services():
            if name in PUBLIC_SERVICES or name == "grpc.health.v1.Health":
                continue
            service = pool.FindServiceByName(name)
            for m in service.methods:
                methods.append(
                    Method(
                        name,
                        m.name,
                        m.input_type,
                        bool(m.client_streaming),
                        bool(m.server_streaming),
                    )
                )
        return methods


async def discover(address: str) -> list[Method]:
    """Every method of every application service on `address` (not health or reflection)."""
    return await asyncio.to_thread(_discover, address)


async def _one(request: Message) -> AsyncIterator[Message]:
    yield request


def _raw(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class Outcome:
    """How a call ended: its status code, details and ErrorInfo reason ("" when none)."""

    code: grpc.StatusCode
    details: str = ""
    reason: str = ""


async def call(
    channel: grpc.aio.Channel,
    method: Method,
    request: Message,
    metadata: Sequence[tuple[str, str]] = (),
    seconds: float = 10.0,
) -> Outcome:
    """Call `method` with `request` (a one-message stream for client streaming). A server
    stream is read to its end or its first error."""
    md = tuple(metadata)
    serialize = type(request).SerializeToString
    try:
        if method.client_streaming:
            stream_unary: Any = channel.stream_unary(
                method.path, request_serializer=serialize, response_deserializer=_raw
            )
            await stream_unary(_one(request), metadata=md, timeout=seconds)
        elif method.server_streaming:
            unary_stream: Any = channel.unary_stream(
                method.path, request_serializer=serialize, response_deserializer=_raw
            )
            async for _ in unary_stream(request, metadata=md, timeout=seconds):
                pass
        else:
            unary_unary: Any = channel.unary_unary(
                method.path, request_serializer=serialize, response_deserializer=_raw
            )
            await unary_unary(request, metadata=md, timeout=seconds)
    except grpc.aio.AioRpcError as error:
        info = unpack_detail(error, ErrorInfo)
        return Outcome(error.code(), str(error.details()), info.reason if info else "")
    return Outcome(grpc.StatusCode.OK)
