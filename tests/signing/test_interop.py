"""EIP-191 and EIP-712 interoperate with eth-account and with ethers, both directions."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data

from tests.signing.support import Ethers
from zerog_signing import (
    INTENT_PRIMARY_TYPE,
    INTENT_TYPES,
    SETTLEMENT_TYPES,
    Eip712Domain,
    Eip712Types,
    IntentAction,
    InvalidAddress,
    InvalidSignature,
    InvalidTypedData,
    LocalSigner,
    WalletIntent,
    intent_domain,
    intent_typed_message,
    keccak256,
    recover_personal_signer,
    recover_typed_data_signer,
    sign_personal_message,
    sign_session_token,
    sign_typed_data,
    to_checksum_address,
    typed_data_digest,
    verify_personal_message,
    verify_typed_data,
)
from zerog_signing.ecdsa import SECP256K1_N
from zerog_signing.jsnum import js_fraction_to_base36
from zerog_signing.session_token import SessionToken

MESSAGES: list[str | bytes] = [
    "hello",
    "",
    "Initialize 0G Broker for 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23 at 1700000000000",
    "unicode: 夢 🌙 ñ",
    'line\nbreaks\tand \\ quotes "',
    b"\x00\x01\xff" * 11,  # 33 raw bytes
    keccak256(b"a session token"),  # 32 raw bytes, as the 0G SDK signs
]

MAIL_TYPES: dict[str, list[dict[str, str]]] = {
    "Person": [
        {"name": "name", "type": "string"},
        {"name": "wallets", "type": "address[]"},
    ],
    "Mail": [
        {"name": "from", "type": "Person"},
        {"name": "to", "type": "Person[]"},
        {"name": "contents", "type": "string"},
        {"name": "attachment", "type": "bytes"},
        {"name": "tag", "type": "bytes4"},
        {"name": "urgent", "type": "bool"},
        {"name": "delta", "type": "int64"},
        {"name": "grid", "type": "uint8[2][]"},
    ],
}


def _keys(count: int, seed: int) -> list[LocalSigner]:
    rng = random.Random(seed)
    signers: list[LocalSigner] = []
    while len(signers) < count:
        secret = rng.randbytes(32)
        if 0 < int.from_bytes(secret, "big") < SECP256K1_N:
            signers.append(LocalSigner(secret))
    return signers


def _secret_hex(signer: LocalSigner) -> str:
    # Tests only: reach the key to hand it to eth-account and ethers.
    return "0x" + signer._key.secret.hex()


def _typed_cases() -> list[tuple[Eip712Domain, dict[str, Any], str, dict[str, Any]]]:
    user, provider = _keys(2, 7)
    intent = WalletIntent(IntentAction.FUND, user.address, 1_700_000_000_000, 5 * 10**17, "99")
    mail = {
        "from": {"name": "Ann", "wallets": [user.address]},
        "to": [
            {"name": "Bob", "wallets": [provider.address, user.address.lower()]},
            {"name": "", "wallets": []},
        ],
        "contents": "Hello, Bob! 夢",
        "attachment": "0xdeadbeef",
        "tag": "0x01020304",
        "urgent": True,
        "delta": -42,
        "grid": [[1, 2], [255, 0]],
    }
    settlement = {
        "requestsHash": "0x" + keccak256(b"requests").hex(),
        "nonce": "17000000000000000",
        "provider": provider.address,
        "user": user.address,
        "totalFee": str(10**18 + 1),
    }
    return [
        (
            intent_domain(16602),
            {INTENT_PRIMARY_TYPE: [{"name": n, "type": t} for n, t in INTENT_FIELDS]},
            INTENT_PRIMARY_TYPE,
            {
                k: str(v) if isinstance(v, int) else v
                for k, v in intent_typed_message(intent).items()
            },
        ),
        (
            Eip712Domain(
                name="Mailer", version="2", chain_id=1, verifying_contract=provider.address
            ),
            MAIL_TYPES,
            "Mail",
            mail,
        ),
        (
            Eip712Domain(
                name="0G Inference Serving",
                version="1",
                chain_id=16661,
                verifying_contract="0x47340d900bdFec2BD393c626E12ea0656F938d84",
            ),
            {"TEESettlement": [{"name": n, "type": t} for n, t in SETTLEMENT_FIELDS]},
            "TEESettlement",
            settlement,
        ),
        (
            Eip712Domain(name="only-name"),
            {"Ping": [{"name": "n", "type": "uint256"}]},
            "Ping",
            {"n": 1},
        ),
    ]


INTENT_FIELDS = [
    ("action", "string"),
    ("address", "address"),
    ("amount", "uint256"),
    ("nonce", "uint256"),
    ("timestamp", "uint256"),
]
SETTLEMENT_FIELDS = [
    ("requestsHash", "bytes32"),
    ("nonce", "uint256"),
    ("provider", "address"),
    ("user", "address"),
    ("totalFee", "uint256"),
]


def _domain_json(domain: Eip712Domain) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if domain.name is not None:
        out["name"] = domain.name
    if domain.version is not None:
        out["version"] = domain.version
    if domain.chain_id is not None:
        out["chainId"] = domain.chain_id
    if domain.verifying_contract is not None:
        out["verifyingContract"] = domain.verifying_contract
    return out


def _eth_account_message(
    domain: Eip712Domain, types: dict[str, Any], primary: str, value: dict[str, Any]
) -> Any:
    domain_json = _domain_json(domain)
    kinds = {
        "name": "string",
        "version": "string",
        "chainId": "uint256",
        "verifyingContract": "address",
    }
    full = {
        "types": {"EIP712Domain": [{"name": k, "type": kinds[k]} for k in domain_json], **types},
        "primaryType": primary,
        "domain": domain_json,
        "message": _eth_account_value(value),
    }
    return encode_typed_data(full_message=full)


def _eth_account_value(value: Any) -> Any:
    # eth-account wants ints for uint256 and bytes for bytes, where ethers takes strings.
    if isinstance(value, dict):
        return {k: _eth_account_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_eth_account_value(v) for v in value]
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value.startswith("0x") and len(value) != 42:
        return bytes.fromhex(value[2:])
    return value


def _message_json(message: str | bytes) -> dict[str, str]:
    return {"hex": "0x" + message.hex()} if isinstance(message, bytes) else {"text": message}


# ---- eth-account ------------------------------------------------------------------------


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_personal_sign_matches_eth_account_both_ways(message: str | bytes) -> None:
    signer = _keys(1, 1)[0]
    signable = (
        encode_defunct(primitive=message)
        if isinstance(message, bytes)
        else encode_defunct(text=message)
    )
    ours = sign_personal_message(signer, message)
    theirs = Account.sign_message(signable, _secret_hex(signer))

    assert ours == "0x" + bytes(theirs.signature).hex()  # RFC 6979: identical bytes
    assert Account.recover_message(signable, signature=ours) == signer.address
    assert recover_personal_signer(message, bytes(theirs.signature)) == signer.address
    assert verify_personal_message(message, ours, signer.address.lower())


@pytest.mark.parametrize("case", range(4))
def test_typed_data_matches_eth_account_both_ways(case: int) -> None:
    domain, types, primary, value = _typed_cases()[case]
    compiled = Eip712Types(types)
    signer = _keys(1, 2)[0]
    signable = _eth_account_message(domain, types, primary, value)

    assert typed_data_digest(domain, compiled, primary, value) == _hash_eip191_message(signable)
    ours = sign_typed_data(signer, domain, compiled, primary, value)
    theirs = Account.sign_message(signable, _secret_hex(signer))
    assert ours == "0x" + bytes(theirs.signature).hex()
    assert Account.recover_message(signable, signature=ours) == signer.address
    assert (
        recover_typed_data_signer(domain, compiled, primary, value, bytes(theirs.signature))
        == signer.address
    )


def test_intent_and_settlement_types_are_the_documented_ones() -> None:
    assert INTENT_TYPES.encode_type(INTENT_PRIMARY_TYPE) == (
        "WalletIntent(string action,address address,uint256 amount,uint256 nonce,uint256 timestamp)"
    )
    assert SETTLEMENT_TYPES.encode_type("TEESettlement") == (
        "TEESettlement(bytes32 requestsHash,uint256 nonce,address provider,address user,"
        "uint256 totalFee)"
    )
    assert (
        Eip712Types(MAIL_TYPES)
        .encode_type("Mail")
        .endswith(")Person(string name,address[] wallets)")
    )


# ---- signatures: v, s and malformed input -------------------------------------------------


def test_v_0_and_1_are_accepted_like_ethers_and_eth_account() -> None:
    signer = _keys(1, 3)[0]
    signature = bytes.fromhex(sign_personal_message(signer, "v")[2:])
    legacy = signature[:64] + bytes([signature[64] - 27])
    assert recover_personal_signer("v", legacy) == signer.address


def test_high_s_is_refused() -> None:
    signer = _keys(1, 4)[0]
    signature = bytes.fromhex(sign_personal_message(signer, "s")[2:])
    s = int.from_bytes(signature[32:64], "big")
    high = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    # The malleated signature is mathematically valid (eth-account recovers it) ...
    assert Account.recover_message(encode_defunct(text="s"), signature=high) == signer.address
    # ... but we refuse it, as ethers does.
    with pytest.raises(InvalidSignature, match="non-canonical"):
        recover_personal_signer("s", high)
    assert not verify_personal_message("s", high, signer.address)


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"\x00" * 64,
        "0x1234",
        "0x" + "zz" * 65,
        "0x" + "00" * 64 + "1b",  # r = s = 0
        "0x" + "11" * 64 + "1d",  # v = 29
        "0x" + "11" * 64 + "25",  # v = 37 (EIP-155 style; meaningless for messages)
        12345,
        None,
    ],
    ids=["empty", "64-bytes", "short-hex", "non-hex", "zero-rs", "v29", "v37", "int", "none"],
)
def test_malformed_signatures_fail_cleanly(signature: Any) -> None:
    with pytest.raises(InvalidSignature):
        recover_personal_signer("m", signature)
    assert verify_personal_message("m", signature, _keys(1, 5)[0].address) is False
    domain, types, primary, value = _typed_cases()[3]
    assert (
        verify_typed_data(
            domain, Eip712Types(types), primary, value, signature, _keys(1, 5)[0].address
        )
        is False
    )


@pytest.mark.parametrize(
    ("types", "value"),
    [
        ({"P": [{"name": "n", "type": "uint8"}]}, {"n": 256}),
        ({"P": [{"name": "n", "type": "uint8"}]}, {"n": -1}),
        ({"P": [{"name": "n", "type": "int8"}]}, {"n": 128}),
        ({"P": [{"name": "b", "type": "bytes4"}]}, {"b": "0x010203"}),
        ({"P": [{"name": "a", "type": "address"}]}, {"a": "0x123"}),
        ({"P": [{"name": "a", "type": "bool"}]}, {"a": 1}),
        ({"P": [{"name": "a", "type": "uint256[2]"}]}, {"a": [1]}),
        ({"P": [{"name": "a", "type": "uint256"}]}, {}),
    ],
)
def test_bad_typed_values_are_refused(types: dict[str, Any], value: dict[str, Any]) -> None:
    with pytest.raises(InvalidTypedData):
        typed_data_digest(Eip712Domain(name="x"), Eip712Types(types), "P", value)


@pytest.mark.parametrize(
    "types",
    [
        {"P": [{"name": "n", "type": "uint7"}]},
        {"P": [{"name": "n", "type": "Nope"}]},
        {"P": [{"name": "n", "type": "Nope[2]"}]},
        {"P": [{"name": "n", "type": "bytes33"}]},
        {"P": [{"name": "bad name", "type": "uint8"}]},
    ],
)
def test_unknown_types_are_refused(types: dict[str, Any]) -> None:
    with pytest.raises(InvalidTypedData):
        Eip712Types(types)


# ---- ethers (npm), through tests/signing/ethers_interop.mjs -------------------------------


def test_ethers_interop(ethers: Ethers) -> None:
    signers = _keys(6, 6)
    personal = [(signer, message) for signer in signers[:2] for message in MESSAGES]
    cases = _typed_cases()
    tokens = [
        SessionToken(
            s.address,
            signers[-1].address,
            1_700_000_000_000 + i,
            1_700_086_400_000 + i,
            f"{1_700_000_000_000 + i}-abc".ljust(32, "0"),
            i,
            255 - i,
        )
        for i, s in enumerate(signers)
    ]
    rng = random.Random(8)
    fractions = [rng.random() for _ in range(500)] + [0.0, 0.5, 0.123456789, 1 - 2**-53, 5e-324]
    addresses = [s.address for s in signers] + [
        signers[0].address.lower(),
        signers[1].address[:-1] + "0",
    ]

    answer = ethers(
        {
            "personal_sign": [
                {"key": _secret_hex(s), "message": _message_json(m)} for s, m in personal
            ],
            "personal_recover": [
                {"message": _message_json(m), "signature": sign_personal_message(s, m)}
                for s, m in personal
            ],
            "typed_hash": [
                {"domain": _domain_json(d), "types": t, "value": v} for d, t, _, v in cases
            ],
            "typed_sign": [
                {"key": _secret_hex(signers[2]), "domain": _domain_json(d), "types": t, "value": v}
                for d, t, _, v in cases
            ],
            "typed_recover": [
                {
                    "domain": _domain_json(d),
                    "types": t,
                    "value": v,
                    "signature": sign_typed_data(signers[3], d, Eip712Types(t), p, v),
                }
                for d, t, p, v in cases
            ],
            "session_sign": [
                {"key": _secret_hex(s), "raw": t.raw_message()}
                for s, t in zip(signers, tokens, strict=True)
            ],
            "radix36": fractions,
            "checksum": addresses,
        }
    )

    for (signer, message), theirs, recovered in zip(
        personal, answer["personal_sign"], answer["personal_recover"], strict=True
    ):
        assert theirs == sign_personal_message(signer, message)
        assert recover_personal_signer(message, theirs) == signer.address
        assert recovered == {"ok": signer.address}
    for (domain, types, primary, value), digest, theirs, recovered in zip(
        cases, answer["typed_hash"], answer["typed_sign"], answer["typed_recover"], strict=True
    ):
        assert digest == "0x" + typed_data_digest(domain, Eip712Types(types), primary, value).hex()
        assert (
            recover_typed_data_signer(domain, Eip712Types(types), primary, value, theirs)
            == signers[2].address
        )
        assert recovered == {"ok": signers[3].address}
    for signer, token, theirs in zip(signers, tokens, answer["session_sign"], strict=True):
        assert sign_session_token(signer, token).signature == theirs
    assert answer["radix36"] == [js_fraction_to_base36(x) for x in fractions]
    for address, theirs in zip(addresses, answer["checksum"], strict=True):
        if "ok" in theirs:
            assert to_checksum_address(address) == theirs["ok"]
        else:
            assert theirs["error"] == "bad address checksum"
            with pytest.raises(InvalidAddress):
                to_checksum_address(address)


def test_ethers_refuses_high_s_too(ethers: Ethers) -> None:
    signer = _keys(1, 9)[0]
    signature = bytes.fromhex(sign_personal_message(signer, "s")[2:])
    s = int.from_bytes(signature[32:64], "big")
    high = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    answer = ethers(
        {"personal_recover": [{"message": {"text": "s"}, "signature": "0x" + high.hex()}]}
    )
    assert answer["personal_recover"][0] == {"error": "non-canonical s"}


def test_a_message_must_be_text_or_bytes() -> None:
    with pytest.raises(TypeError):
        sign_personal_message(_keys(1, 10)[0], 5)  # type: ignore[arg-type]
