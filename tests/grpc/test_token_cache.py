"""JwtVerifier remembers verified tokens: the same bytes only, and never past their exp."""

from __future__ import annotations

import time

import jwt
import pytest

from zerog_grpc import AuthError, JwtVerifier, TokenMinter

SECRET = "token-cache-test-secret-0123456789abcdef"


def test_a_remembered_token_still_names_its_caller() -> None:
    verifier = JwtVerifier(SECRET, "quota")
    token = TokenMinter(SECRET, "inference").token("quota", "user-1")
    first, again = verifier.verify(token), verifier.verify(token)
    assert (again.service, again.user) == ("inference", "user-1")
    assert again == first


def test_a_forged_variant_of_a_remembered_token_is_refused() -> None:
    verifier = JwtVerifier(SECRET, "quota")
    token = TokenMinter(SECRET, "inference").token("quota")
    verifier.verify(token)
    header, claims, _ = token.split(".")
    forged_claims = jwt.encode(
        {"sub": "admin", "aud": "quota", "exp": 2**31}, "another-secret-of-the-same-length-0123456"
    ).split(".")
    for forged in (
        f"{header}.{claims}.{forged_claims[2]}",  # the remembered claims, another signature
        f"{header}.{forged_claims[1]}.{token.split('.')[2]}",  # other claims, its signature
    ):
        with pytest.raises(AuthError) as refused:
            verifier.verify(forged)
        assert refused.value.reason in {"BAD_SIGNATURE", "INVALID_TOKEN"}


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    verifier = JwtVerifier(SECRET, "quota", leeway_seconds=0)
    minter = TokenMinter(SECRET, "inference", lifetime_seconds=1)
    token = minter.token("quota")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    if time.time() >= exp:  # minted just before a second ticked over: mint once more
        minter = TokenMinter(SECRET, "inference", lifetime_seconds=2)
        token = minter.token("quota")
        exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert verifier.verify(token).service == "inference"
    time.sleep(max(exp - time.time(), 0) + 0.05)
    with pytest.raises(AuthError) as refused:
        verifier.verify(token)
    assert refused.value.reason == "TOKEN_EXPIRED"


def test_a_refused_token_is_not_remembered() -> None:
    verifier = JwtVerifier(SECRET, "quota")
    other = TokenMinter(SECRET, "inference").token("broker")
    for _ in range(2):
        with pytest.raises(AuthError) as refused:
            verifier.verify(other)
        assert refused.value.reason == "WRONG_AUDIENCE"
