"""JwtVerifier remembers verified tokens: the same bytes only, never past their exp, and never
once their key is no longer published."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import jwt
import pytest

from tests.support import FORGER, TEST_KEYS
from zerog_grpc import AuthError, JwtVerifier, TokenMinter
from zerog_grpc.jwks import FileSource, KeySet


def _verifier(leeway_seconds: int = 30) -> JwtVerifier:
    keys = KeySet(FileSource(TEST_KEYS.path), unknown_kid_seconds=0)
    return JwtVerifier(keys, "quota", leeway_seconds=leeway_seconds)


def _minter(service: str = "inference", lifetime_seconds: int = 300) -> TokenMinter:
    return TokenMinter(TEST_KEYS.key(service), service, lifetime_seconds=lifetime_seconds)


async def test_a_remembered_token_still_names_its_caller() -> None:
    verifier = _verifier()
    token = _minter().token("quota", "user-1")
    first, again = await verifier.verify(token), await verifier.verify(token)
    assert (again.service, again.user) == ("inference", "user-1")
    assert again == first


async def test_a_forged_variant_of_a_remembered_token_is_refused() -> None:
    verifier = _verifier()
    token = _minter().token("quota")
    await verifier.verify(token)
    header, claims, _ = token.split(".")
    forged_claims = jwt.encode(
        {"sub": "admin", "aud": "quota", "exp": 2**31},
        FORGER.private,
        "ES256",
        headers={"kid": TEST_KEYS.key("inference").kid},
    ).split(".")
    for forged in (
        f"{header}.{claims}.{forged_claims[2]}",  # the remembered claims, another signature
        f"{header}.{forged_claims[1]}.{token.split('.')[2]}",  # other claims, its signature
    ):
        with pytest.raises(AuthError) as refused:
            await verifier.verify(forged)
        assert refused.value.reason in {"BAD_SIGNATURE", "INVALID_TOKEN"}


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    verifier = _verifier(leeway_seconds=0)
    minter = _minter(lifetime_seconds=1)
    token = minter.token("quota")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    if time.time() >= exp:  # minted just before a second ticked over: mint once more
        minter = _minter(lifetime_seconds=2)
        token = minter.token("quota")
        exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert (await verifier.verify(token)).service == "inference"
    await asyncio.sleep(max(exp - time.time(), 0) + 0.05)
    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "TOKEN_EXPIRED"


async def test_a_refused_token_is_not_remembered() -> None:
    verifier = _verifier()
    other = _minter().token("broker")
    for _ in range(2):
        with pytest.raises(AuthError) as refused:
            await verifier.verify(other)
        assert refused.value.reason == "WRONG_AUDIENCE"


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    published = {"keys": [TEST_KEYS.key("inference").public_jwk("inference")]}
    path.write_text(json.dumps(published))
    keys = KeySet(FileSource(path), refresh_seconds=3600, unknown_kid_seconds=0)
    verifier = JwtVerifier(keys, "quota")
    token = _minter().token("quota")
    assert (await verifier.verify(token)).service == "inference"
    path.write_text(json.dumps({"keys": []}))
    await keys.refresh()
    with pytest.raises(AuthError) as refused:
        await verifier.verify(token)
    assert refused.value.reason == "UNKNOWN_KEY"
