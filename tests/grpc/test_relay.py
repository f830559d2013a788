"""A dependency's refusal reaches our caller as the dependency said it, when the caller can act
on it; a dependency down, refusing us or failing inside does not look like the caller's fault.

Two real servers: `dependency` refuses GetQuota with the status the subject names (through its
error map, as a service does), `front` calls it and ends its own call through `relayed`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.rpc import error_details_pb2
from prometheus_client import CollectorRegistry

from tests.support import FORGER, TEST_KEYS, Access, auth_metadata
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_grpc import (
    KERNEL_ERRORS,
    Failure,
    TokenMinter,
    bad_request,
    error_info,
    precondition_failure,
    quota_failure,
    relayed,
    retry_info,
    start_server,
    unpack_detail,
)

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

Code = grpc.StatusCode
SERVICE = "zerog.quota.v1.QuotaService"


class Refused(Exception):
    """What the dependency ends the call with: the code the subject names, typed details."""

    def __init__(self, code: Code) -> None:
        super().__init__(f"refused with {code.name}")
        self.code = code


DETAILS: dict[Code, tuple[Any, ...]] = {
    Code.FAILED_PRECONDITION: (
        precondition_failure("ACKNOWLEDGEMENT", "provider:0xabc", "not acknowledged"),
        error_info("PROVIDER_NOT_ACKNOWLEDGED", provider="0xabc"),
    ),
    Code.RESOURCE_EXHAUSTED: (
        quota_failure("user:alice", "10 tokens left, 50 asked"),
        error_info("QUOTA_EXCEEDED", remaining="10"),
        retry_info(30.0),
    ),
    Code.NOT_FOUND: (error_info("PROVIDER_NOT_FOUND", provider="0xabc"),),
    Code.INVALID_ARGUMENT: (bad_request({"subject": "must name a user"}),),
    Code.INTERNAL: (error_info("INTERNAL"),),
    Code.UNAVAILABLE: (error_info("DEPENDENCY_UNAVAILABLE"),),
}


class Dependency(quota_service_pb2_grpc.QuotaServiceServicer):
    async def GetQuota(self, request: pb.GetQuotaRequest, context: Any) -> pb.GetQuotaResponse:
        raise Refused(getattr(Code, request.subject))


class Front(quota_service_pb2_grpc.QuotaServiceServicer):
    """Calls the dependency with the token `minter` makes, as our services call each other."""

    def __init__(self, stub: QuotaServiceAsyncStub, minter: TokenMinter) -> None:
        self._stub, self._minter = stub, minter

    async def GetQuota(self, request: pb.GetQuotaRequest, context: Any) -> pb.GetQuotaResponse:
        answer: pb.GetQuotaResponse = await self._stub.GetQuota(
            request, metadata=self._minter.metadata("quota"), timeout=10
        )
        return answer


async def _start(servicer: Any, allow: set[str], errors: Any) -> Any:
    return await start_server(
        "127.0.0.1:0",
        [SERVICE],
        lambda s: quota_service_pb2_grpc.add_QuotaServiceServicer_to_server(servicer, s),
        Access("quota", {"GetQuota": allow}),
        CollectorRegistry(),
        errors=errors,
    )


@pytest.fixture
async def front_to() -> AsyncIterator[Any]:
    """front_to(dependency_address, minter) -> a stub of a front calling that address."""
    started: list[Any] = []
    channels: list[grpc.aio.Channel] = []

    async def start(address: str, minter: TokenMinter) -> QuotaServiceAsyncStub:
        channel = grpc.aio.insecure_channel(address)
        channels.append(channel)
        # Only GetQuota exists; the other methods are never called.
        front = Front(quota_service_pb2_grpc.QuotaServiceStub(channel), minter)  # type: ignore[abstract]
        running = await _start(
            front, {"scheduler"}, {**KERNEL_ERRORS, grpc.aio.AioRpcError: relayed}
        )
        started.append(running)
        out = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        channels.append(out)
        return quota_service_pb2_grpc.QuotaServiceStub(out)

    yield start
    for channel in channels:
        await channel.close()
    for running in started:
        await running.stop(None)


@pytest.fixture
async def dependency() -> AsyncIterator[str]:
    def refused(error: Refused) -> Failure:
        return Failure(error.code, str(error), DETAILS[error.code])

    servicer = Dependency()  # type: ignore[abstract]
    running = await _start(servicer, {"inference"}, {**KERNEL_ERRORS, Refused: refused})
    yield f"127.0.0.1:{running.port}"
    await running.stop(None)


async def _call(front: QuotaServiceAsyncStub, subject: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await front.GetQuota(
            pb.GetQuotaRequest(subject=subject), metadata=auth_metadata("scheduler", "quota")
        )
    return raised.value


@pytest.mark.parametrize(
    "code",
    [Code.FAILED_PRECONDITION, Code.RESOURCE_EXHAUSTED, Code.NOT_FOUND, Code.INVALID_ARGUMENT],
)
async def test_a_refusal_the_caller_can_act_on_keeps_its_status_and_details(
    dependency: str, front_to: Any, code: Code
) -> None:
    front = await front_to(dependency, TEST_KEYS.minter("inference"))
    error = await _call(front, code.name)
    assert error.code() == code
    assert error.details() == f"refused with {code.name}"
    for sent in DETAILS[code]:
        assert unpack_detail(error, type(sent)) == sent
    if code != Code.RESOURCE_EXHAUSTED:
        # Nothing invites a retry that cannot succeed.
        assert unpack_detail(error, error_details_pb2.RetryInfo) is None


@pytest.mark.parametrize("caller", ["storage", "unpublished-key"])
async def test_a_dependency_refusing_us_is_internal_not_the_callers_fault(
    dependency: str, front_to: Any, caller: str
) -> None:
    # "storage" is not on the dependency's allow list (PERMISSION_DENIED); a token signed
    # with a key the JWKS does not publish is UNAUTHENTICATED. Either way our credentials,
    # not the caller's.
    minter = TEST_KEYS.minter("storage") if caller == "storage" else TokenMinter(FORGER, "storage")
    front = await front_to(dependency, minter)
    error = await _call(front, "FAILED_PRECONDITION")
    assert error.code() == Code.INTERNAL
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "DEPENDENCY_AUTH_FAILED"
    assert info.metadata["code"] in ("PERMISSION_DENIED", "UNAUTHENTICATED")
    assert unpack_detail(error, error_details_pb2.RetryInfo) is None


async def test_a_dependencys_internal_failure_stays_internal(
    dependency: str, front_to: Any
) -> None:
    front = await front_to(dependency, TEST_KEYS.minter("inference"))
    error = await _call(front, "INTERNAL")
    assert error.code() == Code.INTERNAL
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "DEPENDENCY_FAILED"


@pytest.mark.parametrize("down", [True, False])
async def test_a_dependency_down_is_unavailable_with_retry_info(
    dependency: str, front_to: Any, down: bool
) -> None:
    # Down: nothing listens there. Not down: it answers UNAVAILABLE itself.
    address = "127.0.0.1:1" if down else dependency
    front = await front_to(address, TEST_KEYS.minter("inference"))
    error = await _call(front, "UNAVAILABLE")
    assert error.code() == Code.UNAVAILABLE
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "DEPENDENCY_UNAVAILABLE"
    assert unpack_detail(error, error_details_pb2.RetryInfo) is not None
