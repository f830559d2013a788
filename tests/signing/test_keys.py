"""Loading keys from hex, environment, file and keystore; the key never leaks."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback
from pathlib import Path

import pytest
from eth_account import Account

from zerog_signing import (
    InvalidPrivateKey,
    KeySourceNotFound,
    KeystoreDecryptFailed,
    LocalSigner,
    Signer,
    SigningError,
)
from zerog_signing.ecdsa import SECP256K1_N

KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
DIGITS = KEY[2:]


def test_from_hex_with_or_without_prefix_and_whitespace() -> None:
    for text in (KEY, DIGITS, f"  {KEY}\n", KEY.upper().replace("0X", "0x")):
        assert LocalSigner.from_hex(text).address == ADDRESS


def test_from_env() -> None:
    assert LocalSigner.from_env("WALLET_KEY", {"WALLET_KEY": KEY}).address == ADDRESS
    with pytest.raises(KeySourceNotFound, match="WALLET_KEY is not set"):
        LocalSigner.from_env("WALLET_KEY", {})


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    assert LocalSigner.from_file(path).address == ADDRESS
    with pytest.raises(KeySourceNotFound, match="does not exist"):
        LocalSigner.from_file(tmp_path / "missing")


def test_from_keystore_path_text_and_dict(tmp_path: Path) -> None:
    keystore = Account.encrypt(bytes.fromhex(DIGITS), "correct horse", iterations=2)
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(keystore))
    assert LocalSigner.from_keystore(path, "correct horse").address == ADDRESS
    assert LocalSigner.from_keystore(json.dumps(keystore), "correct horse").address == ADDRESS
    assert LocalSigner.from_keystore(keystore, b"correct horse").address == ADDRESS


def test_export_keystore_round_trip() -> None:
    signer = LocalSigner.generate()
    keystore = signer.export_keystore("pw", iterations=2)
    assert LocalSigner.from_keystore(keystore, "pw") == signer


def test_wrong_keystore_password_is_a_clean_error() -> None:
    keystore = Account.encrypt(bytes.fromhex(DIGITS), "right", iterations=2)
    with pytest.raises(KeystoreDecryptFailed) as raised:
        LocalSigner.from_keystore(keystore, "wrong")
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "wrong" not in str(raised.value).replace("wrong password", "")


@pytest.mark.parametrize(
    "text",
    [
        DIGITS[:-1],  # 63 digits
        DIGITS + "0",  # 65 digits
        DIGITS[:-1] + "g",
        "0" * 64,  # zero is not a key
        f"{SECP256K1_N:064x}",  # neither is n
        "",
    ],
    ids=["63-digits", "65-digits", "non-hex", "zero", "curve-order", "empty"],
)
def test_invalid_keys_are_refused_without_echoing_them(text: str) -> None:
    with pytest.raises(InvalidPrivateKey) as raised:
        LocalSigner.from_hex(text)
    assert_secret_absent(raised.value, text)


def test_invalid_key_in_env_or_file_is_not_echoed(tmp_path: Path) -> None:
    bad = DIGITS[:-1] + "x"
    with pytest.raises(InvalidPrivateKey) as raised:
        LocalSigner.from_env("K", {"K": bad})
    assert_secret_absent(raised.value, bad)
    path = tmp_path / "key"
    path.write_text(bad)
    with pytest.raises(InvalidPrivateKey) as raised_file:
        LocalSigner.from_file(path)
    assert_secret_absent(raised_file.value, bad)


def assert_secret_absent(error: BaseException, secret: str) -> None:
    assert isinstance(error, SigningError)
    rendered = "".join(traceback.format_exception(error)).lower()
    for needle in {secret.lower(), secret.lower().removeprefix("0x")} - {""}:
        if len(needle) >= 16:
            assert needle not in rendered
    # No chained exception carries the original text either.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_key_never_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("test.signing")
    signer = LocalSigner.from_hex(KEY)
    signer.sign_digest(b"\x01" * 32)
    logger.info("signer %s %r", signer, signer)
    logger.info("fields", extra={"signer": signer})

    assert repr(signer) == f"LocalSigner(address={ADDRESS})"
    assert str(signer) == repr(signer)
    everything = caplog.text + repr(caplog.records[-1].__dict__)
    assert DIGITS not in everything.lower()


def test_signer_cannot_be_pickled_copied_or_mutated() -> None:
    signer = LocalSigner.from_hex(KEY)
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.copy(signer)
    with pytest.raises(AttributeError):
        signer._address = "0x0"
    assert not hasattr(signer, "__dict__")


def test_local_signer_satisfies_the_protocol() -> None:
    signer: Signer = LocalSigner.generate()
    assert isinstance(signer, Signer)
    signature = signer.sign_digest(b"\x02" * 32)
    assert len(signature) == 65 and signature[64] in (27, 28)
    assert LocalSigner.generate().address != signer.address
