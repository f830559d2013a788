"""Network profiles (devnet, testnet, mainnet) with their contract addresses, and a connect
that refuses an RPC serving another chain than the profile names."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector
from eth_typing import URI
from eth_utils.address import to_checksum_address
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from web3 import AsyncHTTPProvider, AsyncWeb3
from web3._utils.http_session_manager import HTTPSessionManager
from web3.providers.rpc.utils import REQUEST_RETRY_ALLOWLIST, ExceptionRetryConfiguration
from web3.types import RPCEndpoint, RPCResponse

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


class _SessionPerProvider(HTTPSessionManager):
    """web3's session manager without its process-wide lock: one aiohttp session per provider.

    web3 guards its session cache with a threading.Lock shared by every provider in the process
    and takes it through a thread pool. A request cancelled while that thread waits (a broker
    stopping with a provider refresh in flight) leaves the lock held for good, and from then on
    every chain call in the process waits for it forever: the request timeout starts only after
    the session is found. Here nothing is awaited between the lookup and the store, so the event
    loop alone makes it safe.
    """

    async def async_cache_and_return_session(
        self,
        endpoint_uri: URI,
        session: ClientSession | None = None,
        request_timeout: ClientTimeout | None = None,
    ) -> ClientSession:
        cached: ClientSession | None = self.session_cache.get_cache_entry(endpoint_uri)
        if cached is not None and not cached.closed and session is None:
            return cached
        if session is None:
            # As web3 builds it: no keep-alive, so a node restart never leaves stale sockets.
            session = ClientSession(raise_for_status=True, connector=TCPConnector(force_close=True))
        self.session_cache.cache(endpoint_uri, session)
        if cached is not None and cached is not session and not cached.closed:
            await cached.close()
        return session


_tracer = trace.get_tracer("zerog_chain")


class _TracedProvider(AsyncHTTPProvider):
    """A client span per JSON-RPC request: web3 posts through aiohttp, which the httpx
    instrumentation never sees, so a slow RPC would otherwise be a gap in the trace. The URL
    stays off the span (hosted RPC URLs often carry an API key)."""

    async def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with _tracer.start_as_current_span(
            f"chain {method}",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "jsonrpc", "rpc.method": str(method)},
        ):
            return await super().make_request(method, params)


def _provider(rpc_url: str, rpc_timeout: float) -> AsyncHTTPProvider:
    provider = _TracedProvider(
        rpc_url, request_kwargs={"timeout": rpc_timeout}, exception_retry_configuration=_RETRY
    )
    provider._request_session_manager = _SessionPerProvider()
    return provider


async def connect(
    profile: NetworkProfile,
    rpc_url: str,
    *,
    rpc_timeout: float = 10.0,
    deadline: float = 30.0,
) -> AsyncWeb3[Any]:
    """An AsyncWeb3 on `rpc_url`, after checking it serves the profile's chain.

    `rpc_timeout` bounds each request; `deadline` bounds the whole check, retries included,
    so a start-up fails with ChainUnavailable instead of waiting on a silent RPC.
    """
    w3 = AsyncWeb3(_provider(rpc_url, rpc_timeout))
    try:
        async with asyncio.timeout(deadline):
            chain_id = await w3.eth.chain_id
    except TimeoutError:
        await w3.provider.disconnect()
        raise ChainUnavailable(
            f"the chain RPC at {rpc_url} did not answer eth_chainId within {deadline} s"
        ) from None
    except Exception as error:
        await w3.provider.disconnect()
        raise ChainUnavailable(f"cannot reach the chain RPC: {type(error).__name__}") from None
    if chain_id != profile.chain_id:
        await w3.provider.disconnect()
        raise ChainIdMismatch(profile.name, profile.chain_id, chain_id)
    return w3
