"""The 0G network on one machine: anvil, the real 0G compute contracts, our Flow and market."""

from devnet.chain import Devnet, DevnetConfig, Timings
from devnet.contracts import DevnetContracts, contract, decode_error, load_abi
from devnet.services import DevnetService, ServiceHandle
from devnet.state import ContractAddresses, DevnetState
from devnet.wallets import A0GI, Wallet

__all__ = [
    "A0GI",
    "ContractAddresses",
    "Devnet",
    "DevnetConfig",
    "DevnetContracts",
    "DevnetService",
    "DevnetState",
    "ServiceHandle",
    "Timings",
    "Wallet",
    "contract",
    "decode_error",
    "load_abi",
]
