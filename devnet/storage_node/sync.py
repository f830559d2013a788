"""Log sync: follow the Flow contract's Submit events on the chain, as the node's log_sync does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from zerog_storage import SUBMIT_EVENT_TOPIC, Transaction, decode_submit_event

log = logging.getLogger(__name__)

# Blocks per eth_getLogs call: anvil answers large ranges, but a long-lived devnet grows.
_MAX_RANGE = 5_000


class ChainError(RuntimeError):
    """The chain's JSON-RPC answered an error or something that is not JSON-RPC."""


class EthRpc:
    """The few eth_* calls the node needs, over one HTTP connection pool."""

    def __init__(self, url: str, http: httpx.AsyncClient) -> None:
        self.url = url
        self._http = http

    async def call(self, method: str, *params: Any) -> Any:
        """Call `method` and return its result; ChainError on a JSON-RPC error."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer = (await self._http.post(self.url, json=body)).json()
        if "error" in answer:
            raise ChainError(f"{method}: {answer['error']}")
        return answer["result"]

    async def chain_id(self) -> int:
        """eth_chainId."""
        return int(await self.call("eth_chainId"), 16)

    async def block_number(self) -> int:
        """eth_blockNumber."""
        return int(await self.call("eth_blockNumber"), 16)

    async def block_hash(self, number: int) -> str:
        """Hash of block `number`."""
        block = await self.call("eth_getBlockByNumber", hex(number), False)
        return str(block["hash"]) if block else "0x" + "00" * 32


class LogSync:
    """Reads Submit logs of one Flow contract up to `head - confirmations + 1`."""

    def __init__(
        self,
        eth: EthRpc,
        flow_address: str,
        on_tx: Callable[[Transaction], None],
        *,
        start_block: int = 0,
        confirmations: int = 1,
    ) -> None:
        self.eth = eth
        self.flow_address = flow_address.lower()
        self.on_tx = on_tx
        self.confirmations = max(confirmations, 1)
        self.height = start_block - 1
        """Last block whose logs were processed (-1: none yet)."""
        self.block_hash = "0x" + "00" * 32

    async def step(self) -> bool:
        """Process the confirmed blocks not yet read; True if the height moved."""
        target = await self.eth.block_number() - self.confirmations + 1
        if target < self.height:
            # The chain went back (anvil evm_revert): re-read from there on.
            self.height = target
        if target <= self.height:
            return False
        start = self.height + 1
        while start <= target:
            end = min(start + _MAX_RANGE - 1, target)
            logs = await self.eth.call(
                "eth_getLogs",
                {
                    "address": self.flow_address,
                    "topics": ["0x" + SUBMIT_EVENT_TOPIC.hex()],
                    "fromBlock": hex(start),
                    "toBlock": hex(end),
                },
            )
            for entry in sorted(logs, key=_log_position):
                topics = [bytes.fromhex(t[2:]) for t in entry["topics"]]
                event = decode_submit_event(topics, bytes.fromhex(entry["data"][2:]))
                self.on_tx(event.to_transaction())
            start = end + 1
        self.height = target
        self.block_hash = await self.eth.block_hash(target)
        return True

    async def run(self, interval: float, on_progress: Callable[[], None]) -> None:
        """Poll forever; a failing chain is logged and retried, never fatal."""
        while True:
            try:
                if await self.step():
                    on_progress()
            except (httpx.HTTPError, ChainError, ValueError) as e:
                log.warning("log sync failed, retrying: %s", e)
            await asyncio.sleep(interval)


def _log_position(entry: dict[str, Any]) -> tuple[int, int]:
    return int(entry["blockNumber"], 16), int(entry["logIndex"], 16)
