"""Chain access for zerog: network profiles, one transaction sender per wallet (nonces, gas,
receipts, recorded), typed 0G compute contracts, Flow payments and reverts decoded by name."""

from zerog_chain.abis import decode_revert, load_abi
from zerog_chain.compute import AccountInfo, ComputeContracts, LedgerInfo, ServiceInfo
from zerog_chain.errors import (
    BroadcastUnconfirmed,
    ChainError,
    ChainIdMismatch,
    ChainUnavailable,
    ContractReverted,
    ReceiptTimeout,
    TransactionFailed,
    TransactionRejected,
)
from zerog_chain.flow import FlowContracts
from zerog_chain.networks import (
    DEVNET_CHAIN_ID,
    MAINNET,
    MAINNET_CHAIN_ID,
    TESTNET,
    TESTNET_CHAIN_ID,
    NetworkProfile,
    connect,
    devnet_profile,
    network_profile,
)
from zerog_chain.records import NonceGuard, Receipt, TxRecord, TxRecorder
from zerog_chain.sender import GAS_MARGIN, TxSender
from zerog_chain.wallet import Wallet

__all__ = [
    "DEVNET_CHAIN_ID",
    "GAS_MARGIN",
    "MAINNET",
    "MAINNET_CHAIN_ID",
    "TESTNET",
    "TESTNET_CHAIN_ID",
    "AccountInfo",
    "BroadcastUnconfirmed",
    "ChainError",
    "ChainIdMismatch",
    "ChainUnavailable",
    "ComputeContracts",
    "ContractReverted",
    "FlowContracts",
    "LedgerInfo",
    "NetworkProfile",
    "NonceGuard",
    "Receipt",
    "ReceiptTimeout",
    "ServiceInfo",
    "TransactionFailed",
    "TransactionRejected",
    "TxRecord",
    "TxRecorder",
    "TxSender",
    "Wallet",
    "connect",
    "decode_revert",
    "devnet_profile",
    "load_abi",
    "network_profile",
]
