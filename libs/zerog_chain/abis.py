"""The contract ABIs we talk to (copies of the shared ABIs) and revert decoding by error name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address

from zerog_signing import keccak256

ContractName = Literal["LedgerManager", "InferenceServing", "Flow", "FixedPriceMarket"]
_DIR = Path(__file__).parent / "abi"
# Solidity's built-in Error(string) and Panic(uint256).
_BUILTIN = [
    {"type": "error", "name": "Error", "inputs": [{"type": "string", "name": "message"}]},
    {"type": "error", "name": "Panic", "inputs": [{"type": "uint256", "name": "code"}]},
]


@cache
def load_abi(name: ContractName) -> list[dict[str, Any]]:
    """The ABI of one contract."""
    data: list[dict[str, Any]] = json.loads((_DIR / f"{name}.json").read_text())
    return data


def _type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@dataclass(frozen=True, slots=True)
class _ErrorDef:
    name: str
    types: tuple[str, ...]


@cache
def _error_table() -> dict[bytes, _ErrorDef]:
    table: dict[bytes, _ErrorDef] = {}
    names: tuple[ContractName, ...] = ("LedgerManager", "InferenceServing", "Flow")
    for entry in [e for n in names for e in load_abi(n)] + _BUILTIN:
        if entry["type"] != "error":
            continue
        types = tuple(_type(p) for p in entry["inputs"])
        selector = keccak256(f"{entry['name']}({','.join(types)})".encode())[:4]
        table[selector] = _ErrorDef(entry["name"], types)
    return table


def decode_revert(data: str | bytes) -> tuple[str, tuple[object, ...]]:
    """(error name, arguments) of revert data; ("UnknownError", (hex,)) when nothing matches."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    definition = _error_table().get(raw[:4]) if len(raw) >= 4 else None
    if definition is None:
        return ("UnknownError", ("0x" + raw.hex(),)) if raw else ("Reverted", ())
    try:
        values = decode(list(definition.types), raw[4:])
    except Exception:
        return definition.name, ()
    args = tuple(
        to_checksum_address(v) if t == "address" else v
        for t, v in zip(definition.types, values, strict=True)
    )
    return definition.name, args
