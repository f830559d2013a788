"""Caller authentication and per-method allow lists, against a real server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.quota.conftest import Quota, StartQuota
from tests.support import FORGER, TEST_KEYS, claims, raw_token
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import unpack_detail

REQUEST = pb.GetQuotaRequest(subject="user:alice")


async def refused(
    quota: Quota, metadata: tuple[tuple[str, str], ...] | None
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.GetQuota(REQUEST, metadata=metadata)
    return raised.value


Metadata = tuple[tuple[str, str], ...] | None

# Built when the test runs, not at collection: a suite can outlast a token's lifetime.
BAD_TOKENS: dict[str, tuple[Callable[[], Metadata], str]] = {
    "missing": (lambda: None, "TOKEN_MISSING"),
    "wrong-scheme": (lambda: (("authorization", "Basic dXNlcjpwYXNz"),), "TOKEN_MISSING"),
    "garbage": (lambda: (("authorization", "Bearer not.a.jwt"),), "INVALID_TOKEN"),
    "expired": (
        lambda: raw_token(claims("inference", "quota", expires_in=-120)),
        "TOKEN_EXPIRED",
    ),
    "forged": (
        lambda: raw_token(claims("inference", "quota"), FORGER, TEST_KEYS.key("inference").kid),
        "BAD_SIGNATURE",
    ),
    "unknown-key": (lambda: raw_token(claims("inference", "quota"), key=FORGER), "UNKNOWN_KEY"),
    "another-service's-key": (
        lambda: raw_token(claims("inference", "quota"), key=TEST_KEYS.key("storage")),
        "KEY_NOT_FOR_SUBJECT",
    ),
    "wrong-audience": (lambda: raw_token(claims("inference", "storage")), "WRONG_AUDIENCE"),
    "no-exp": (lambda: raw_token({"sub": "inference", "aud": "quota"}), "INVALID_TOKEN"),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_bad_tokens_are_unauthenticated(quota: Quota, case: str) -> None:
    make_metadata, reason = BAD_TOKENS[case]
    error = await refused(quota, make_metadata())
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    info = unpack_detail(error, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == reason


async def test_alg_none_token_is_refused(quota: Quota) -> None:
    import base64
    import json

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    unsigned = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims('admin', 'quota'))}."
    error = await refused(quota, (("authorization", f"Bearer {unsigned}"),))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_service_not_on_the_allow_list_is_permission_denied(quota: Quota) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.SetPrice(
            pb.SetPriceRequest(
                price=pb.Price(unit=pb.UNIT_COMPUTE_TOKENS, micro_usd=1, per_amount=1)
            ),
            metadata=quota.as_service("inference"),
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = unpack_detail(raised.value, error_details_pb2.ErrorInfo)
    assert info is not None and info.reason == "METHOD_NOT_ALLOWED"
    assert await quota.pool.fetchval("SELECT count(*) FROM prices") == 2


async def test_allow_list_can_be_overridden_by_configuration(start_quota: StartQuota) -> None:
    quota = await start_quota(AUTH_ALLOW="GetQuota=billing")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await quota.stub.GetQuota(REQUEST, metadata=quota.as_service("inference"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await quota.stub.GetQuota(REQUEST, metadata=quota.as_service("billing"))


async def test_health_and_reflection_need_no_token(quota: Quota) -> None:
    # The health and reflection stubs are typed for sync channels only.
    health: Any = health_pb2_grpc.HealthStub(quota.channel)
    for service in ("", "zerog.quota.v1.QuotaService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    reflection: Any = reflection_pb2_grpc.ServerReflectionStub(quota.channel)  # type: ignore[arg-type]
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for response in responses:
        names |= {s.name for s in response.list_services_response.service}
    assert "zerog.quota.v1.QuotaService" in names
