"""A credential per caller, against a real quota server reading a real JWKS file.

- A signing key rotates (publish, sign, retire) under steady load and no call is refused.
- A caller's own key cannot reach admin methods, nor pass for admin, nor ask for another user's
  subject; only the admin key (which no service holds) can.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2

from tests.quota.conftest import Quota, StartQuota
from tools.auth_keys import publish, retire
from zerog.quota.v1 import quota_service_pb2 as pb
from zerog_grpc import TokenMinter, unpack_detail
from zerog_grpc.tokens import SigningKey, mint_token

# How often the test server reads the JWKS, and may read it again for an unknown kid.
REFRESH_SECONDS = 0.05
WORKERS = 4
DEADLINE_SECONDS = 60.0


@pytest.fixture
def jwks(tmp_path: Path) -> Path:
    return tmp_path / "jwks.json"


@pytest.fixture
async def quota_on(start_quota: StartQuota, jwks: Path) -> AsyncIterator[StartQuota]:
    """Start quota checking tokens against the test's own JWKS (published before it starts)."""

    async def start() -> Quota:
        return await start_quota(
            AUTH_JWKS_FILE=str(jwks),
            AUTH_JWKS_REFRESH_SECONDS=str(REFRESH_SECONDS),
            AUTH_JWKS_UNKNOWN_KID_SECONDS=str(REFRESH_SECONDS),
        )

    yield start


class SteadyLoad:
    """WORKERS callers calling GetQuota back to back as `inference`, with whichever key the
    test hands them; every answer is counted by the kid that signed the call."""

    def __init__(self, quota: Quota, key: SigningKey) -> None:
        self.quota = quota
        self.minter = TokenMinter(key, "inference")
        self.ok: Counter[str] = Counter()
        self.refused: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def sign_with(self, key: SigningKey) -> None:
        self.minter = TokenMinter(key, "inference")

    async def __aenter__(self) -> SteadyLoad:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(WORKERS)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _work(self) -> None:
        request = pb.GetQuotaRequest(subject="user:steady")
        while not self._stop.is_set():
            minter = self.minter
            kid = minter.key.kid
            try:
                await self.quota.stub.GetQuota(
                    request, metadata=minter.metadata("quota"), timeout=10
                )
            except grpc.aio.AioRpcError as error:
                self.refused.append(f"{kid}: {error.code().name} {error.details()}")
            else:
                self.ok[kid] += 1

    async def served(self, calls: int) -> None:
        """Wait until `calls` more calls have been answered (any key)."""
        target = sum(self.ok.values()) + len(self.refused) + calls
        deadline = time.monotonic() + DEADLINE_SECONDS
        while sum(self.ok.values()) + len(self.refused) < target:
            assert time.monotonic() < deadline, "the load stalled"
            await asyncio.sleep(0.01)


async def _reason(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        info = unpack_detail(error, error_details_pb2.ErrorInfo)
        return error.code(), info.reason if info is not None else ""
    return grpc.StatusCode.OK, ""


async def test_a_key_rotation_under_steady_load_refuses_no_call(
    quota_on: StartQuota, jwks: Path
) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    publish(jwks, "inference", old)
    quota = await quota_on()
    async with SteadyLoad(quota, old) as load:
        await load.served(100)
        # 1. Publish the new key beside the old one, and give every reader time to read it.
        publish(jwks, "inference", new)
        await asyncio.sleep(2 * REFRESH_SECONDS)
        await load.served(100)
        # 2. Sign with it: calls signed with either key verify meanwhile.
        load.sign_with(new)
        await load.served(100)
        # 3. Retire the old key (no token of it is in use any more).
        retire(jwks, old.kid)
        await asyncio.sleep(2 * REFRESH_SECONDS)
        await load.served(100)
    assert load.refused == []
    assert load.ok[old.kid] >= 200 and load.ok[new.kid] >= 200

    # Retired means revoked: a token of the old key is refused now, though not expired.
    retired = (("authorization", f"Bearer {mint_token(old, 'inference', 'quota')}"),)
    code, reason = await _reason(
        quota.stub.GetQuota(pb.GetQuotaRequest(subject="user:steady"), metadata=retired)
    )
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_KEY")


async def test_an_unknown_kid_is_read_for_at_once_without_waiting_for_the_refresh(
    start_quota: StartQuota, jwks: Path
) -> None:
    first, later = SigningKey.generate(), SigningKey.generate()
    publish(jwks, "inference", first)
    quota = await start_quota(
        AUTH_JWKS_FILE=str(jwks),
        AUTH_JWKS_REFRESH_SECONDS="3600",
        AUTH_JWKS_UNKNOWN_KID_SECONDS="0",
    )
    publish(jwks, "inference", later)
    metadata = TokenMinter(later, "inference").metadata("quota")
    await quota.stub.GetQuota(pb.GetQuotaRequest(subject="user:a"), metadata=metadata)


async def test_a_callers_token_cannot_call_admin_methods(quota_on: StartQuota, jwks: Path) -> None:
    app, admin = SigningKey.generate(), SigningKey.generate()
    publish(jwks, "app", app)
    publish(jwks, "admin", admin)
    quota = await quota_on()
    prices = await quota.pool.fetchval("SELECT count(*) FROM prices")
    price = pb.SetPriceRequest(
        price=pb.Price(unit=pb.UNIT_COMPUTE_TOKENS, micro_usd=7, per_amount=1000)
    )

    def signed(key: SigningKey, sub: str, kid: str | None = None) -> tuple[tuple[str, str], ...]:
        token = mint_token(key, sub, "quota")
        if kid is not None:  # the same token under another key's id
            import jwt

            claims = jwt.decode(token, options={"verify_signature": False})
            token = jwt.encode(claims, key.private, key.algorithm, headers={"kid": kid})
        return (("authorization", f"Bearer {token}"),)

    attempts = {
        "as itself": (signed(app, "app"), grpc.StatusCode.PERMISSION_DENIED, "METHOD_NOT_ALLOWED"),
        "as admin, its own key": (
            signed(app, "admin"),
            grpc.StatusCode.UNAUTHENTICATED,
            "KEY_NOT_FOR_SUBJECT",
        ),
        "as admin, admin's kid": (
            signed(app, "admin", kid=admin.kid),
            grpc.StatusCode.UNAUTHENTICATED,
            "BAD_SIGNATURE",
        ),
    }
    for name, (metadata, code, reason) in attempts.items():
        outcome = await _reason(quota.stub.SetPrice(price, metadata=metadata))
        assert outcome == (code, reason), name
    assert await quota.pool.fetchval("SELECT count(*) FROM prices") == prices

    # The admin key, which only the minting tool holds, can.
    await quota.stub.SetPrice(price, metadata=signed(admin, "admin"))


async def test_a_token_for_a_user_cannot_ask_for_another_users_subject(
    quota_on: StartQuota, jwks: Path
) -> None:
    app = SigningKey.generate()
    publish(jwks, "app", app)
    quota = await quota_on()
    for_alice = TokenMinter(app, "app").metadata("quota", user="alice")
    answer = await quota.stub.GetQuota(pb.GetQuotaRequest(subject="user:alice"), metadata=for_alice)
    assert answer.subject == "user:alice"
    outcome = await _reason(
        quota.stub.GetQuota(pb.GetQuotaRequest(subject="user:bob"), metadata=for_alice)
    )
    assert outcome == (grpc.StatusCode.PERMISSION_DENIED, "SUBJECT_NOT_OWNED")
    # Without a user the caller acts for itself and names the subject it serves.
    as_app = TokenMinter(app, "app").metadata("quota")
    answer = await quota.stub.GetQuota(pb.GetQuotaRequest(subject="user:bob"), metadata=as_app)
    assert answer.subject == "user:bob"
