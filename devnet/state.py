"""The devnet state file: one JSON document that services and tests read to find the devnet."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devnet.wallets import Wallet

SCHEMA_VERSION = 1

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


@dataclass(frozen=True)
class ContractAddresses:
    """Where the devnet contracts live. Compute contracts are ERC1967 proxies."""

    ledger_manager: str
    inference_serving: str
    flow: str
    fixed_price_market: str
    ledger_manager_implementation: str
    inference_serving_implementation: str


@dataclass(frozen=True)
class DevnetState:
    """Everything a client needs to use a running devnet. Amounts are ints in neuron."""

    rpc_url: str
    chain_id: int
    anvil_pid: int
    contracts: ContractAddresses
    inference_service_name: str
    """The ledger's registry name for InferenceServing (getServiceInfo(...).fullName)."""
    lock_time: int
    price_per_sector: int
    blocks_per_epoch: int
    deployer: Wallet
    """Owner of every devnet contract (e.g. for acknowledgeTEESignerByOwner)."""
    wallets: tuple[Wallet, ...]
    wallet_balance: int
    services: Mapping[str, Mapping[str, JSONValue]] = field(default_factory=dict)
    """Per service started after the chain, whatever it publishes (URLs, addresses...)."""

    def to_json(self) -> dict[str, JSONValue]:
        """The documented JSON form (neuron amounts as decimal strings: exact in any parser)."""
        c = self.contracts
        return {
            "version": SCHEMA_VERSION,
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "anvil_pid": self.anvil_pid,
            "contracts": {
                "LedgerManager": c.ledger_manager,
                "InferenceServing": c.inference_serving,
                "Flow": c.flow,
                "FixedPriceMarket": c.fixed_price_market,
            },
            "implementations": {
                "LedgerManager": c.ledger_manager_implementation,
                "InferenceServing": c.inference_serving_implementation,
            },
            "compute": {
                "inference_service_name": self.inference_service_name,
                "lock_time": self.lock_time,
            },
            "storage": {
                "price_per_sector": str(self.price_per_sector),
                "blocks_per_epoch": self.blocks_per_epoch,
            },
            "deployer": _wallet_json(self.deployer),
            "wallets": [_wallet_json(w) for w in self.wallets],
            "wallet_balance": str(self.wallet_balance),
            "services": {name: dict(info) for name, info in self.services.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DevnetState:
        """Parses `to_json()` output; rejects other schema versions."""
        if data.get("version") != SCHEMA_VERSION:
            raise ValueError(f"devnet state version {data.get('version')!r}, need {SCHEMA_VERSION}")
        contracts, implementations = data["contracts"], data["implementations"]
        return cls(
            rpc_url=data["rpc_url"],
            chain_id=int(data["chain_id"]),
            anvil_pid=int(data["anvil_pid"]),
            contracts=ContractAddresses(
                ledger_manager=contracts["LedgerManager"],
                inference_serving=contracts["InferenceServing"],
                flow=contracts["Flow"],
                fixed_price_market=contracts["FixedPriceMarket"],
                ledger_manager_implementation=implementations["LedgerManager"],
                inference_serving_implementation=implementations["InferenceServing"],
            ),
            inference_service_name=data["compute"]["inference_service_name"],
            lock_time=int(data["compute"]["lock_time"]),
            price_per_sector=int(data["storage"]["price_per_sector"]),
            blocks_per_epoch=int(data["storage"]["blocks_per_epoch"]),
            deployer=_wallet(data["deployer"]),
            wallets=tuple(_wallet(w) for w in data["wallets"]),
            wallet_balance=int(data["wallet_balance"]),
            services=dict(data.get("services", {})),
        )

    def save(self, path: Path) -> None:
        """Writes the file atomically, so a reader never sees half of it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(path)

    @classmethod
    def load(cls, path: Path) -> DevnetState:
        """Reads a state file written by a running devnet."""
        return cls.from_json(json.loads(path.read_text()))


def _wallet_json(wallet: Wallet) -> dict[str, JSONValue]:
    return {"address": wallet.address, "private_key": wallet.private_key}


def _wallet(data: Mapping[str, str]) -> Wallet:
    return Wallet(address=data["address"], private_key=data["private_key"])
