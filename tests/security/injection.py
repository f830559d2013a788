"""Hostile text for SQL injection tests, and the verdict on one call: stored and read back
literally, or refused as INVALID_ARGUMENT with a BadRequest; anything else is a finding."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2

from tests.stack import Stack
from zerog.storage.v1 import storage_service_pb2 as spb
from zerog.storage.v1 import storage_service_pb2_grpc
from zerog_grpc import unpack_detail

PAYLOADS: dict[str, str] = {
    "drop": "'; DROP TABLE x; --",
    "drop schema": "x'); DROP SCHEMA quota CASCADE; --",
    "or true": "' OR '1'='1",
    "placeholder": "$1",
    "dollar quote": "$$; DELETE FROM users; $$",
    "backslashes": "a\\'b\\\\c\\",
    "quotes": "\"double\" 'single' `back`",
    "comment": "/* x */ -- y",
    "semicolon union": "1; SELECT * FROM pg_user UNION SELECT 1 --",
    "rtl and emoji": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \U0001f600\U0001f4a5",
    "like": "a%b_c",
    "percent only": "%",
    "ten kB": "'" + "x" * 10_240 + "'",
}


@dataclass
class Findings:
    """What went wrong across many calls, so one assertion reports all of it."""

    wrong: list[str]

    async def check(
        self,
        case: str,
        payload: str,
        call: Awaitable[Any],
        read: Callable[[Any], Awaitable[str]],
    ) -> bool:
        """Run `call`; if it succeeds, `read(answer)` must give back `payload` exactly. True
        when the value was stored."""
        try:
            answer = await call
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                self.wrong.append(f"{case} {payload[:40]!r}: {error.code().name} {error.details()}")
            elif unpack_detail(error, error_details_pb2.BadRequest) is None:
                self.wrong.append(f"{case} {payload[:40]!r}: INVALID_ARGUMENT without BadRequest")
            return False
        try:
            stored = await read(answer)
        except grpc.aio.AioRpcError as error:
            self.wrong.append(f"{case} {payload[:40]!r}: read back {error.code().name}")
            return False
        if stored != payload:
            self.wrong.append(f"{case} {payload[:40]!r}: read back {stored[:60]!r}")
        return True

    async def listed(self, case: str, payload: str, call: Awaitable[object]) -> None:
        """A listing filtered by `payload`: any answer but INVALID_ARGUMENT + BadRequest is
        a finding unless it succeeds."""
        await self.check(case, payload, call, _same(payload))


def _same(payload: str) -> Callable[[Any], Awaitable[str]]:
    async def read(_: Any) -> str:
        return payload

    return read


def storage_stub(stack: Stack) -> Any:
    """The storage service's stub (its async form, typed loosely)."""
    return storage_service_pb2_grpc.StorageServiceStub(stack.channels["storage"])


async def _parts(header: spb.PutObjectHeader, data: bytes) -> AsyncIterator[spb.PutObjectRequest]:
    yield spb.PutObjectRequest(header=header)
    yield spb.PutObjectRequest(chunk=data)


def put_object(
    stack: Stack, request_id: str, namespace: str, name: str, data: bytes, **fields: object
) -> Awaitable[spb.PutObjectResponse]:
    """PutObject of `data` in one chunk, as the inference service."""
    header = spb.PutObjectHeader(
        request_id=request_id,
        namespace=namespace,
        name=name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        **fields,  # type: ignore[arg-type]
    )
    call: Awaitable[spb.PutObjectResponse] = storage_stub(stack).PutObject(
        _parts(header, data), metadata=stack.md("storage", "inference")
    )
    return call
