"""KeySet and the JWKS document: what a verifier accepts, how often it reads its source."""

from __future__ import annotations

import json

import pytest

from zerog_grpc.jwks import InvalidKeySet, KeySet, parse_jwks
from zerog_grpc.tokens import SigningKey, mint_token, thumbprint


class Source:
    """A JWKS source whose document the test sets, counting reads."""

    def __init__(self, *entries: dict[str, object]) -> None:
        self.entries = list(entries)
        self.reads = 0
        self.broken = False

    async def fetch(self) -> bytes:
        self.reads += 1
        if self.broken:
            raise OSError("source down")
        return json.dumps({"keys": self.entries}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _keyset(source: Source, clock: Clock) -> KeySet:
    return KeySet(source, refresh_seconds=60, unknown_kid_seconds=5, clock=clock)


async def test_an_unknown_kid_reads_again_at_most_once_per_interval() -> None:
    key, clock = SigningKey.generate(), Clock()
    source = Source(key.public_jwk("inference"))
    keys = _keyset(source, clock)
    assert (await keys.get(key.kid)) is not None and source.reads == 1
    for _ in range(20):  # made-up kids: no read within the interval
        assert await keys.get("made-up") is None
    assert source.reads == 1
    clock.now += 5
    assert await keys.get("made-up") is None
    assert source.reads == 2


async def test_a_new_key_is_found_at_its_first_token() -> None:
    old, new, clock = SigningKey.generate(), SigningKey.generate(), Clock()
    source = Source(old.public_jwk("inference"))
    keys = _keyset(source, clock)
    await keys.get(old.kid)
    source.entries.append(new.public_jwk("inference"))
    clock.now += 5
    found = await keys.get(new.kid)
    assert found is not None and found.service == "inference"


async def test_a_failed_or_invalid_read_keeps_the_known_keys() -> None:
    key, clock = SigningKey.generate(), Clock()
    source = Source(key.public_jwk("inference"))
    keys = _keyset(source, clock)
    await keys.get(key.kid)
    source.broken = True
    await keys.refresh()
    assert await keys.get(key.kid) is not None
    source.broken, source.entries = False, [{"kty": "EC"}]
    await keys.refresh()
    assert await keys.get(key.kid) is not None


async def test_stale_keys_are_read_again_in_the_background() -> None:
    key, clock = SigningKey.generate(), Clock()
    source = Source(key.public_jwk("inference"))
    keys = _keyset(source, clock)
    await keys.get(key.kid)
    source.entries = []
    clock.now += 60
    assert await keys.get(key.kid) is not None  # answered with the keys at hand
    for _ in range(10):
        if source.reads == 2:
            break
        await keys.refresh()  # a no-op once the background read has begun
    assert await keys.get(key.kid) is None


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"service": ""}, "service is required"),
        ({"alg": "HS256"}, "alg must be one of"),
        ({"alg": None}, "alg must be one of"),
        ({"kid": ""}, "kid is required"),
        ({"use": "enc"}, "use must be sig"),
    ],
)
def test_entries_the_verifier_could_misuse_are_refused(
    change: dict[str, object], problem: str
) -> None:
    entry = {**SigningKey.generate().public_jwk("inference"), **change}
    with pytest.raises(InvalidKeySet, match=problem):
        parse_jwks(json.dumps({"keys": [entry]}))


def test_a_published_private_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.algorithms import ECAlgorithm

    key = SigningKey.generate()
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    private = ECAlgorithm.to_jwk(key.private, as_dict=True)
    entry = {**private, "kid": key.kid, "alg": "ES256", "service": "inference"}
    with pytest.raises(InvalidKeySet, match="private key"):
        parse_jwks(json.dumps({"keys": [entry]}))


def test_the_kid_is_the_rfc_7638_thumbprint_and_rsa_keys_sign_rs256() -> None:
    # RFC 7638 section 3.1's example key and thumbprint.
    example = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
    }
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert key.algorithm == "RS256"
    keys = parse_jwks(json.dumps({"keys": [key.public_jwk("app")]}))
    assert keys[key.kid].algorithm == "RS256"
    assert mint_token(key, "app", "quota").count(".") == 2
