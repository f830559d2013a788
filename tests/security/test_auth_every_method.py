"""Every method of every service, found through reflection, refuses callers without a valid token
(UNAUTHENTICATED) and services not on its allow list (PERMISSION_DENIED); streams included."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest

from devnet.storage_node import StorageNetwork
from tests.security.reflection import Method, call, discover
from tests.stack import SERVICES, Stack
from tests.support import FORGER, TEST_KEYS, auth_metadata, claims, raw_token
from zerog_grpc import ANY_SERVICE

INTRUDER = "intruder"
STREAMS = {"quota": 1, "broker": 0, "inference": 2, "storage": 2, "scheduler": 0}


def bad_tokens(audience: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """Metadata that must never authenticate, by what is wrong with it."""
    now = int(time.time())
    unsigned = jwt.encode(claims("admin", audience), None, algorithm="none")  # type: ignore[arg-type]
    return {
        "missing": (),
        "not bearer": (("authorization", "Basic YWRtaW46YWRtaW4="),),
        "garbage": (("authorization", "Bearer not.a.jwt"),),
        "expired": raw_token(
            {"sub": "admin", "aud": audience, "iat": now - 7200, "exp": now - 3600}
        ),
        "forged": raw_token(claims("admin", audience), key=FORGER),
        "forged, admin's kid": raw_token(
            claims("admin", audience), key=FORGER, kid=TEST_KEYS.key("admin").kid
        ),
        "another caller's key": raw_token(claims("admin", audience), key=TEST_KEYS.key("app")),
        "wrong audience": auth_metadata("admin", "elsewhere"),
        "no expiry": raw_token({"sub": "admin", "aud": audience}),
        "alg none": (("authorization", f"Bearer {unsigned}"),),
    }


@pytest.fixture(scope="module")
async def everything(stack: Stack, storage_network: StorageNetwork) -> Stack:
    return await stack.start(*SERVICES, nodes=[n.url for n in storage_network.nodes])


async def _methods(stack: Stack, service: str) -> list[Method]:
    methods = await discover(stack.address(service))
    assert methods, f"reflection lists nothing on {service}"
    return methods


@pytest.mark.parametrize("service", SERVICES)
async def test_no_valid_token_is_unauthenticated(everything: Stack, service: str) -> None:
    channel = everything.channels[service]
    wrong = []
    methods = await _methods(everything, service)
    for method in methods:
        for kind, metadata in bad_tokens(service).items():
            outcome = await call(channel, method, method.request(), metadata)
            if outcome.code != grpc.StatusCode.UNAUTHENTICATED:
                wrong.append(f"{method.path} with {kind} token: {outcome.code.name}")
    assert wrong == []
    # Streaming methods are enumerated and refused too.
    assert sum(not m.unary for m in methods) == STREAMS[service]


@pytest.mark.parametrize("service", SERVICES)
async def test_services_off_the_allow_list_are_denied(everything: Stack, service: str) -> None:
    channel = everything.channels[service]
    allow = everything.configs[service].allow
    wrong = []
    for method in await _methods(everything, service):
        allowed = allow.get(method.path) or allow.get(method.name) or frozenset()
        if not allowed:
            wrong.append(f"{method.path} has no allow list: nobody can call it")
            continue
        outcome = await call(
            channel, method, method.request(), auth_metadata(INTRUDER, service), seconds=5
        )
        refused_by_auth = outcome.reason == "METHOD_NOT_ALLOWED"
        if ANY_SERVICE in allowed:
            # Past the allow list; the servicer may still refuse (ACLs, global jobs).
            if outcome.code == grpc.StatusCode.UNAUTHENTICATED or refused_by_auth:
                wrong.append(f"{method.path} (open to any service): {outcome.code.name}")
        elif outcome.code != grpc.StatusCode.PERMISSION_DENIED or not refused_by_auth:
            wrong.append(f"{method.path} (only {sorted(allowed)}): {outcome.code.name}")
    assert wrong == []
