"""ABIs, build artifacts and web3 contract objects for the devnet's contracts; revert decoding."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

from eth_abi.abi import decode
from eth_typing import ABI, ABIError, ChecksumAddress, HexStr
from eth_utils.abi import (
    abi_to_signature,
    function_signature_to_4byte_selector,
    get_abi_input_types,
)
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from devnet.paths import ABI_DIR, BUILD_DIR

if TYPE_CHECKING:
    from devnet.state import DevnetState

ContractName = Literal["Flow", "FixedPriceMarket", "LedgerManager", "InferenceServing"]
ArtifactName = ContractName | Literal["ERC1967Proxy"]

# Solidity's built-in revert payloads, which no ABI lists.
_BUILTIN_ERRORS: list[ABIError] = [
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
]


class ArtifactMissing(RuntimeError):
    """devnet/build has no such artifact: run `node devnet/compile.mjs` (devnet start does)."""


@dataclass(frozen=True)
class Artifact:
    """A deployable contract: ABI and creation bytecode."""

    abi: ABI
    bytecode: HexStr


@cache
def load_abi(name: ContractName) -> ABI:
    """The contract's ABI, from the copies of the shared ABIs committed in devnet/abi."""
    return cast(ABI, json.loads((ABI_DIR / f"{name}.json").read_text()))


def load_artifact(name: ArtifactName) -> Artifact:
    """ABI and bytecode from devnet/build (compiled or extracted by devnet/compile.mjs)."""
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactMissing(f"{path} is missing: run `node devnet/compile.mjs`") from None
    return Artifact(abi=cast(ABI, data["abi"]), bytecode=HexStr(data["bytecode"]))


def contract(w3: Web3, name: ContractName, address: str) -> Contract:
    """A web3 contract object for `name` at `address`."""
    return w3.eth.contract(address=to_checksum_address(address), abi=load_abi(name))


@dataclass(frozen=True)
class DevnetContracts:
    """The four devnet contracts, bound to one web3 connection."""

    ledger: Contract
    inference: Contract
    flow: Contract
    market: Contract


def devnet_contracts(w3: Web3, state: DevnetState) -> DevnetContracts:
    """Contract objects for the addresses recorded in a devnet state."""
    addresses = state.contracts
    return DevnetContracts(
        ledger=contract(w3, "LedgerManager", addresses.ledger_manager),
        inference=contract(w3, "InferenceServing", addresses.inference_serving),
        flow=contract(w3, "Flow", addresses.flow),
        market=contract(w3, "FixedPriceMarket", addresses.fixed_price_market),
    )


@dataclass(frozen=True)
class DecodedError:
    """A revert decoded against an ABI: `name` is the custom error (or Error / Panic)."""

    name: str
    args: tuple[Any, ...]


def decode_error(abi: ABI, data: str | bytes) -> DecodedError | None:
    """Decodes revert data (selector + arguments); None if no error in `abi` matches."""
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
    if len(raw) < 4:
        return None
    errors = [e for e in abi if e["type"] == "error"] + _BUILTIN_ERRORS
    for error in errors:
        if function_signature_to_4byte_selector(abi_to_signature(error)) == raw[:4]:
            types = get_abi_input_types(error)
            args = decode(types, raw[4:])
            # eth-abi returns lower-case addresses; web3 calls return checksummed ones.
            args = tuple(
                to_checksum_address(a) if t == "address" else a
                for t, a in zip(types, args, strict=True)
            )
            return DecodedError(name=error["name"], args=args)
    return None


def checksum(address: str) -> ChecksumAddress:
    """EIP-55 form of an address."""
    return to_checksum_address(address)
