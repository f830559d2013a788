"""The provider check's fast paths accept, refuse and return exactly what the exact paths do.

Each fast path (stdlib base64, bytes.fromhex, the SDK-form token regex, recovery through
libsecp256k1's C API) hands anything it is unsure of to the Go-compatible code; these
properties compare the two on random and adversarial inputs.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from coincurve import PrivateKey, PublicKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from zerog_signing import LocalSigner, SessionTokenRejected, address_bytes, keccak256
from zerog_signing.ecdsa import SECP256K1_N, recover_address_raw, sign_digest
from zerog_signing.gocompat import (
    GoDecodeError,
    _go_hexutil_decode_exact,
    _go_std_b64decode_exact,
    go_hexutil_decode,
    go_std_b64decode,
)
from zerog_signing.session_check import (
    _unmarshal_exact,
    _unmarshal_sdk_form,
    _unmarshal_token,
)

Outcome = tuple[str, object]


def outcome_of(decode: Callable[[Any], object], data: object) -> Outcome:
    try:
        return ("ok", decode(data))
    except (GoDecodeError, SessionTokenRejected) as e:
        return ("refused", str(e))


# --- base64 -------------------------------------------------------------------------------


def _mangle(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, insert in edits:
        at = position % (len(out) + 1)
        out[at:at] = insert
    return bytes(out)


b64_inputs = st.one_of(
    st.binary(max_size=40),
    st.text(alphabet="AQgw/+=\r\n-_ *", max_size=24).map(str.encode),
    st.binary(max_size=30).map(base64.b64encode),
    st.builds(
        _mangle,
        st.binary(max_size=30).map(base64.b64encode),
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=60),
                st.sampled_from([b"=", b"==", b"\n", b"\r\n", b"\r", b"A", b"-", b"\x00"]),
            ),
            max_size=3,
        ),
    ),
)


@settings(max_examples=1000, deadline=None)
@given(data=b64_inputs)
@example(data=b"AAAA=")  # stdlib strict mode takes padding after a full quantum; Go does not
@example(data=b"AAAA==")
@example(data=b"AA==AA==")
@example(data=b"AB==\n")
@example(data=b"AB=\n=")
@example(data=b"QQ==")  # loose trailing bits: Go's StdEncoding accepts them
def test_base64_fast_path_is_the_go_decoder(data: bytes) -> None:
    assert outcome_of(go_std_b64decode, data) == outcome_of(_go_std_b64decode_exact, data)


def test_base64_fast_path_on_every_short_input() -> None:
    # Every string of up to 8 characters over a padding-heavy alphabet ("/" has all
    # trailing bits set, "A" none): the corners where strict mode and Go differ.
    for size in range(9):
        for chars in itertools.product(b"A/=\n", repeat=size):
            data = bytes(chars)
            assert outcome_of(go_std_b64decode, data) == outcome_of(
                _go_std_b64decode_exact, data
            ), data


# --- hexutil ------------------------------------------------------------------------------


hex_inputs = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0xX19afAFg \t\n\u0660", max_size=16),
    st.binary(max_size=70).map(lambda b: "0x" + b.hex()),
    st.tuples(st.sampled_from(["0x", "0X", "0", "x", ""]), st.text("0123456789abcdefABCDEF ")).map(
        "".join
    ),
)


@settings(max_examples=1000, deadline=None)
@given(text=hex_inputs)
@example(text="0x")
@example(text="0xab cd")  # fromhex skips the space; Go refuses it
@example(text="0x\u0661\u0662")  # non-ASCII digits
@example(text="0xabc")
def test_hex_fast_path_is_hexutil(text: str) -> None:
    assert outcome_of(go_hexutil_decode, text) == outcome_of(_go_hexutil_decode_exact, text)


# --- recovery -----------------------------------------------------------------------------


def _public_api_recovery(digest: bytes, rs: bytes, recid: int) -> bytes | None:
    try:
        public = PublicKey.from_signature_and_message(rs + bytes((recid,)), digest, hasher=None)
    except ValueError:
        return None
    return keccak256(public.format(compressed=False)[1:])[12:]


scalars = st.one_of(
    st.integers(min_value=0, max_value=2**256 - 1),
    st.sampled_from([0, 1, SECP256K1_N - 1, SECP256K1_N, SECP256K1_N + 1, 2**256 - 1]),
)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    digest=st.binary(min_size=32, max_size=32),
    r=scalars,
    s=scalars,
    recid=st.integers(min_value=0, max_value=3),
    forge=st.booleans(),
)
def test_recovery_matches_the_public_api(
    secret: int, digest: bytes, r: int, s: int, recid: int, forge: bool
) -> None:
    if forge:
        rs = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        # A real signature, with s flipped to high s half the time (go-ethereum takes it).
        signature = LocalSigner(secret.to_bytes(32, "big")).sign_digest(digest)
        rs, recid = signature[:64], signature[64] - 27
        if s % 2:
            rs, recid = rs[:32] + (SECP256K1_N - int.from_bytes(rs[32:])).to_bytes(32), recid ^ 1
    ours = recover_address_raw(digest, rs, recid)
    assert ours == _public_api_recovery(digest, rs, recid)
    if not forge:
        assert ours is not None


@settings(max_examples=200, deadline=None)
@given(
    secret=st.integers(min_value=1, max_value=SECP256K1_N - 1),
    digest=st.binary(min_size=32, max_size=32),
)
def test_signing_matches_the_public_api(secret: int, digest: bytes) -> None:
    key = PrivateKey(secret.to_bytes(32, "big"))
    expected = key.sign_recoverable(digest, hasher=None)
    assert sign_digest(key, digest) == expected[:64] + bytes((expected[64] + 27,))


def test_signing_and_recovery_from_many_threads_at_once() -> None:
    # Each thread has its own C buffers; a shared set would mix up results here.
    signers = [LocalSigner.generate() for _ in range(4)]

    def recover_many(signer: LocalSigner) -> bool:
        expected = address_bytes(signer.address)
        for i in range(300):
            digest = keccak256(i.to_bytes(4, "big"))
            signature = signer.sign_digest(digest)
            if signature[:64] != signer._key.sign_recoverable(digest, hasher=None)[:64]:
                return False
            if recover_address_raw(digest, signature[:64], signature[64] - 27) != expected:
                return False
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(recover_many, signers))


def test_recovery_refuses_short_or_odd_input() -> None:
    signature = LocalSigner.generate().sign_digest(bytes(32))
    assert recover_address_raw(bytes(31), signature[:64], 0) is None
    assert recover_address_raw(bytes(32), signature[:63], 0) is None
    assert recover_address_raw(bytes(32), signature[:64], 4) is None
    assert recover_address_raw(bytes(32), signature[:64], -1) is None


# --- the token's JSON ---------------------------------------------------------------------


def _string_literal(value: str, escaped: bool) -> str:
    return json.dumps(value) if escaped else f'"{value}"'


odd_numbers = st.one_of(
    st.integers(min_value=-(2**65), max_value=2**65).map(str),
    st.sampled_from(
        [
            *("-0", "00", "01", "-01", "256", "1e3", "1.0", "-", "", "9" * 25, "null", "[]"),
            *(str(2**63 - 1), str(2**63), str(-(2**63)), str(-(2**63) - 1)),
            *(str(2**64 - 1), str(2**64)),
        ]
    ),
)
odd_strings = st.tuples(
    st.one_of(
        st.text(max_size=12),
        st.text(alphabet='ab"\\/\x00\x1f\x7f\u00e9 ', max_size=8),
    ),
    st.booleans(),
).map(lambda pair: _string_literal(*pair))
plain_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=44)
# What the SDK writes for each key, and a value of that key's type that is not.
FIELDS = {
    "address": (plain_text.map(json.dumps), odd_strings),
    "provider": (plain_text.map(json.dumps), odd_strings),
    "timestamp": (st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str), odd_numbers),
    "expiresAt": (st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str), odd_numbers),
    "nonce": (plain_text.map(json.dumps), odd_strings),
    "generation": (st.integers(min_value=0, max_value=2**64 - 1).map(str), odd_numbers),
    "tokenId": (st.integers(min_value=0, max_value=255).map(str), odd_numbers),
}


@st.composite
def token_texts(draw: st.DrawFn) -> bytes:
    # Each value usually as the SDK writes it; sometimes odd, of the other kind, or another
    # key, sometimes with spacing: the fast path must take the first and pass on the rest.
    odd = draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))
    keys, values = list(FIELDS), []
    for usual, unusual in FIELDS.values():
        pick = draw(st.floats(min_value=0, max_value=1))
        values.append(draw(unusual if pick < odd else usual))
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        keys[draw(st.integers(min_value=0, max_value=6))] = draw(
            st.sampled_from(["Address", "tokenid", "extra", "nonce", "addre\u017fs"])
        )
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        index = draw(st.integers(min_value=0, max_value=6))
        values[index] = draw(st.one_of(odd_strings, odd_numbers, st.just("true")))
    separator = draw(st.sampled_from([",", ",", ",", ", ", ",\n"]))
    text = "{" + separator.join(f'"{k}":{v}' for k, v in zip(keys, values, strict=True)) + "}"
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=600, deadline=None)
@given(text=token_texts())
@example(
    text=b'{"address":"a","provider":"b","timestamp":1,"expiresAt":2,'
    b'"nonce":"n","generation":0,"tokenId":256}'
)
@example(
    text=b'{"address":"a","provider":"b","timestamp":9223372036854775808,"expiresAt":2,'
    b'"nonce":"n","generation":0,"tokenId":255}'
)
@example(
    text=b'{"address":"a","provider":"b","timestamp":1,"expiresAt":2,'
    b'"nonce":"n","generation":18446744073709551616,"tokenId":255}'
)
def test_token_fast_paths_are_the_go_unmarshal(text: bytes) -> None:
    exact = outcome_of(_unmarshal_exact, text)
    assert outcome_of(_unmarshal_token, text) == exact
    fast = _unmarshal_sdk_form(text)
    if fast is not None:
        assert exact == ("ok", fast)


def test_the_sdk_form_takes_what_the_sdk_writes() -> None:
    # The fast path must actually carry real tokens, or the speed-up is not there.
    from zerog_signing import issue_api_key, issue_ephemeral_token

    signer = LocalSigner.generate()
    provider = "0x" + "11" * 20
    for signed in (
        issue_ephemeral_token(signer, provider, generation=3),
        issue_api_key(signer, provider, token_id=7, generation=2**64 - 1, expires_in_ms=5),
    ):
        assert _unmarshal_sdk_form(signed.raw_message.encode()) == signed.token


def test_the_provider_cache_keeps_refusing_bad_addresses() -> None:
    from zerog_signing import InvalidAddress, issue_ephemeral_token

    signer = LocalSigner.generate()
    good = "0x" + "ab" * 20
    for _ in range(2):  # the second round is served by the cache
        assert issue_ephemeral_token(signer, good, generation=0).token.provider == (
            "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
        )
        for bad in ("0xAbab" + "ab" * 18, "0x12", None, 5):
            with pytest.raises(InvalidAddress):
                issue_ephemeral_token(signer, bad, generation=0)  # type: ignore[arg-type]
