"""Network profiles (devnet, testnet, mainnet) with their contract addresses, and a connect
that refuses an RPC serving another chain than the profile names."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError
from eth_utils.address import to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration

from zerog_chain.errors import ChainError, ChainIdMismatch, ChainUnavailable

DEVNET_CHAIN_ID = 31337
TESTNET_CHAIN_ID = 16602
MAINNET_CHAIN_ID = 16661


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """A chain and the 0G contracts on it (EIP-55 addresses)."""

    name: str
    chain_id: int
    ledger: str
    inference: str
    flow: str


# specs/zg-compute.md (compute) and specs/zg-storage.md (Flow; testnet is the turbo flow).
TESTNET = NetworkProfile(
    "testnet",
    TESTNET_CHAIN_ID,
    ledger="0xE70830508dAc0A97e6c087c75f402f9Be669E406",
    inference="0xa79F4c8311FF93C06b8CfB403690cc987c93F91E",
    flow="0x22E03a6A89B950F1c82ec5e74F8eCa321a105296",
)
MAINNET = NetworkProfile(
    "mainnet",
    MAINNET_CHAIN_ID,
    ledger="0x2dE54c845Cd948B72D2e32e39586fe89607074E3",
    inference="0x47340d900bdFec2BD393c626E12ea0656F938d84",
    flow="0x62D4144dB0F0a6fBBaeb6296c785C71B3D57C526",
)


def devnet_profile(state_path: Path) -> NetworkProfile:
    """The devnet profile from the devnet's state file (its chain id and deployed addresses)."""
    try:
        state = json.loads(state_path.read_text())
        contracts = state["contracts"]
        return NetworkProfile(
            "devnet",
            int(state["chain_id"]),
            ledger=to_checksum_address(contracts["LedgerManager"]),
            inference=to_checksum_address(contracts["InferenceServing"]),
            flow=to_checksum_address(contracts["Flow"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ChainError(f"cannot read devnet state {state_path}: {error}") from None


def network_profile(name: str, devnet_state: Path | None = None) -> NetworkProfile:
    """The profile called `name`; devnet needs the state file path."""
    if name == "testnet":
        return TESTNET
    if name == "mainnet":
        return MAINNET
    if name == "devnet":
        if devnet_state is None:
            raise ChainError("the devnet profile needs DEVNET_STATE")
        return devnet_profile(devnet_state)
    raise ChainError(f"unknown network {name!r} (devnet, testnet or mainnet)")


# web3 retries idempotent reads on a timeout or a broken connection, and by default
# eth_sendRawTransaction too: that resend hides a lost answer from the sender, which then sees
# 'nonce too low' for its own mined transaction. TxSender asks the node and resends itself.
_RETRY = ExceptionRetryConfiguration(
    errors=(ClientError, TimeoutError),
    method_allowlist=[m for m in REQUEST_RETRY_ALLOWLIST if m != "eth_sendRawTransaction"],
)


async def connect(
    profile: NetworkProfile, rpc_url: str, *, rpc_timeout: float = 10.0
) -> AsyncWeb3[Any]:
    """An AsyncWeb3 on `rpc_url`, after checking it serves the profile's chain."""
    w3 = AsyncWeb3(
        AsyncHTTPProvider(
            rpc_url, request_kwargs={"timeout": rpc_timeout}, exception_retry_configuration=_RETRY
        )
    )
    try:
        chain_id = await w3.eth.chain_id
    except Exception as error:
        await w3.provider.disconnect()
        raise ChainUnavailable(f"cannot reach the chain RPC: {type(error).__name__}") from None
    if chain_id != profile.chain_id:
        await w3.provider.disconnect()
        raise ChainIdMismatch(profile.name, profile.chain_id, chain_id)
    return w3
