"""EIP-712 typed data: a small encoder that matches ethers and eth-account, and sign/recover.

eth-account's encoder hashes about 2,000 messages/s here; intents must verify at more than
11,000/s, so types are compiled once (type hashes, one encoder per field) and reused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from zerog_signing import ecdsa
from zerog_signing.errors import InvalidAddress, InvalidSignature, InvalidTypedData
from zerog_signing.hashing import address_bytes, checksum_address, keccak256
from zerog_signing.keys import Signer
from zerog_signing.personal import decode_signature

__all__ = [
    "Eip712Domain",
    "Eip712Types",
    "recover_typed_data_signer",
    "sign_typed_data",
    "typed_data_digest",
    "verify_typed_data",
]

Field = tuple[str, str] | Mapping[str, str]
_Encoder = Callable[[object], bytes]

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
# [0-9], not \d: \d also matches other scripts' digits, which int() would accept.
_ARRAY = re.compile(r"^(.+)\[([0-9]*)\]$")
_INT = re.compile(r"^(u?)int([0-9]{0,3})$")
_FIXED_BYTES = re.compile(r"^bytes([0-9]{1,2})$")
_HEX = re.compile(r"0[xX]((?:[0-9a-fA-F]{2})*)")
_DECIMAL = re.compile(r"-?[0-9]+")
_ZERO12 = bytes(12)


def _bad(kind: str, value: object) -> InvalidTypedData:
    shown = repr(value)
    return InvalidTypedData(f"expected {kind}, got {shown[:80]}")


def _to_int(value: object, kind: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return int(value)
        if (match := _HEX.fullmatch(value)) is not None:
            return int(match[1] or "0", 16)
    raise _bad(kind, value)


def _to_bytes(value: object, kind: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and (match := _HEX.fullmatch(value)) is not None:
        return bytes.fromhex(match[1])
    raise _bad(kind, value)


def _int_encoder(signed: bool, bits: int, kind: str) -> _Encoder:
    low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if signed else (0, 1 << bits)

    def encode(value: object) -> bytes:
        number = _to_int(value, kind)
        if not low <= number < high:
            raise _bad(kind, value)
        return (number % (1 << 256)).to_bytes(32, "big")

    return encode


def _fixed_bytes_encoder(size: int, kind: str) -> _Encoder:
    def encode(value: object) -> bytes:
        raw = _to_bytes(value, kind)
        if len(raw) != size:
            raise _bad(kind, value)
        return raw.ljust(32, b"\0")

    return encode


def _encode_address(value: object) -> bytes:
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        return _ZERO12 + bytes(value)
    if isinstance(value, str):
        try:
            return _ZERO12 + address_bytes(value)
        except InvalidAddress:
            pass
    raise _bad("address", value)


def _encode_bool(value: object) -> bytes:
    if not isinstance(value, bool):
        raise _bad("bool", value)
    return (1 if value else 0).to_bytes(32, "big")


def _encode_string(value: object) -> bytes:
    if not isinstance(value, str):
        raise _bad("string", value)
    return keccak256(value.encode())


def _encode_dynamic_bytes(value: object) -> bytes:
    return keccak256(_to_bytes(value, "bytes"))


_UINT256 = _int_encoder(False, 256, "uint256")
_BYTES32 = _fixed_bytes_encoder(32, "bytes32")


def _normalize_fields(fields: Sequence[Field]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in fields:
        name, kind = (item["name"], item["type"]) if isinstance(item, Mapping) else item
        if not _IDENTIFIER.fullmatch(name):
            raise InvalidTypedData(f"bad field name {name!r}")
        out.append((name, kind.replace(" ", "")))
    return tuple(out)


class Eip712Types:
    """A compiled set of EIP-712 struct types (without EIP712Domain).

    Accepts ethers' shape `{"Mail": [{"name": "to", "type": "address"}, ...]}` or
    `{"Mail": [("to", "address"), ...]}`.
    """

    def __init__(self, types: Mapping[str, Sequence[Field]]) -> None:
        self._fields = {name: _normalize_fields(fields) for name, fields in types.items()}
        self._fields.pop("EIP712Domain", None)
        for name in self._fields:
            if not _IDENTIFIER.fullmatch(name):
                raise InvalidTypedData(f"bad type name {name!r}")
        self._encoders: dict[str, _Encoder] = {}
        self._type_hashes = {
            name: keccak256(self.encode_type(name).encode()) for name in self._fields
        }
        self._compiled = {
            name: tuple((fname, self._encoder(ftype)) for fname, ftype in fields)
            for name, fields in self._fields.items()
        }

    def _dependencies(self, primary: str, found: set[str]) -> set[str]:
        if primary in found or primary not in self._fields:
            return found
        found.add(primary)
        for _, kind in self._fields[primary]:
            base = kind
            while (match := _ARRAY.match(base)) is not None:
                base = match[1]
            self._dependencies(base, found)
        return found

    def encode_type(self, primary: str) -> str:
        """`Primary(type name,...)Dep(...)...` with dependencies sorted by name."""
        if primary not in self._fields:
            raise InvalidTypedData(f"unknown struct type {primary!r}")
        deps = self._dependencies(primary, set()) - {primary}
        return "".join(
            f"{name}({','.join(f'{t} {n}' for n, t in self._fields[name])})"
            for name in [primary, *sorted(deps)]
        )

    def type_hash(self, primary: str) -> bytes:
        """keccak256 of encode_type(primary)."""
        try:
            return self._type_hashes[primary]
        except KeyError:
            raise InvalidTypedData(f"unknown struct type {primary!r}") from None

    def _encoder(self, kind: str) -> _Encoder:
        cached = self._encoders.get(kind)
        if cached is not None:
            return cached
        encoder = self._make_encoder(kind)
        self._encoders[kind] = encoder
        return encoder

    def _make_encoder(self, kind: str) -> _Encoder:
        if (array := _ARRAY.match(kind)) is not None:
            return self._array_encoder(array[1], int(array[2]) if array[2] else None, kind)
        if kind in self._fields:
            return lambda value: self.hash_struct(kind, value)
        if kind == "address":
            return _encode_address
        if kind == "bool":
            return _encode_bool
        if kind == "string":
            return _encode_string
        if kind == "bytes":
            return _encode_dynamic_bytes
        if (match := _INT.match(kind)) is not None:
            bits = int(match[2] or "256")
            if bits % 8 or not 8 <= bits <= 256:
                raise InvalidTypedData(f"bad integer type {kind!r}")
            return _int_encoder(match[1] == "", bits, kind)
        if (match := _FIXED_BYTES.match(kind)) is not None and 1 <= int(match[1]) <= 32:
            return _fixed_bytes_encoder(int(match[1]), kind)
        raise InvalidTypedData(f"unknown type {kind!r}")

    def _array_encoder(self, item_kind: str, length: int | None, kind: str) -> _Encoder:
        item = self._encoder(item_kind)

        def encode(value: object) -> bytes:
            if not isinstance(value, list | tuple) or (length is not None and len(value) != length):
                raise _bad(kind, value)
            return keccak256(b"".join(item(element) for element in value))

        return encode

    def hash_struct(self, primary: str, value: object) -> bytes:
        """hashStruct(value) = keccak256(typeHash || encodeData(value))."""
        if not isinstance(value, Mapping):
            raise _bad(f"a {primary} mapping", value)
        try:
            compiled = self._compiled[primary]
        except KeyError:
            raise InvalidTypedData(f"unknown struct type {primary!r}") from None
        parts = [self._type_hashes[primary]]
        for name, encode in compiled:
            if name not in value:
                raise InvalidTypedData(f"{primary}.{name} is missing")
            parts.append(encode(value[name]))
        return keccak256(b"".join(parts))


@dataclass(frozen=True)
class Eip712Domain:
    """An EIP-712 domain; fields left as None are left out of EIP712Domain, as ethers does."""

    name: str | None = None
    version: str | None = None
    chain_id: int | None = None
    verifying_contract: str | None = None
    salt: bytes | None = field(default=None, repr=False)

    @cached_property
    def separator(self) -> bytes:
        """The domain separator, hashStruct(EIP712Domain)."""
        present = [
            (member, encode(value))
            for member, value, encode in (
                ("string name", self.name, _encode_string),
                ("string version", self.version, _encode_string),
                ("uint256 chainId", self.chain_id, _UINT256),
                ("address verifyingContract", self.verifying_contract, _encode_address),
                ("bytes32 salt", self.salt, _BYTES32),
            )
            if value is not None
        ]
        members = [member for member, _ in present]
        encoded = [value for _, value in present]
        type_hash = keccak256(f"EIP712Domain({','.join(members)})".encode())
        return keccak256(type_hash + b"".join(encoded))


def typed_data_digest(
    domain: Eip712Domain, types: Eip712Types, primary_type: str, message: Mapping[str, object]
) -> bytes:
    """keccak256(0x19 0x01 || domainSeparator || hashStruct(message)): what gets signed."""
    return keccak256(b"\x19\x01" + domain.separator + types.hash_struct(primary_type, message))


def sign_typed_data(
    signer: Signer,
    domain: Eip712Domain,
    types: Eip712Types,
    primary_type: str,
    message: Mapping[str, object],
) -> str:
    """eth_signTypedData_v4 / ethers signTypedData: 0x-hex r || s || v."""
    return "0x" + signer.sign_digest(typed_data_digest(domain, types, primary_type, message)).hex()


def recover_typed_data_signer(
    domain: Eip712Domain,
    types: Eip712Types,
    primary_type: str,
    message: Mapping[str, object],
    signature: bytes | str,
) -> str:
    """Checksummed address that signed the typed data; InvalidSignature if none."""
    digest = typed_data_digest(domain, types, primary_type, message)
    return checksum_address(ecdsa.recover_address(digest, decode_signature(signature)))


def verify_typed_data(
    domain: Eip712Domain,
    types: Eip712Types,
    primary_type: str,
    message: Mapping[str, object],
    signature: bytes | str,
    address: str,
) -> bool:
    """True when `address` signed the typed data; False on any bad input."""
    try:
        expected = address_bytes(address)
        digest = typed_data_digest(domain, types, primary_type, message)
        return ecdsa.recover_address(digest, decode_signature(signature)) == expected
    except (InvalidSignature, InvalidAddress, InvalidTypedData):
        return False
