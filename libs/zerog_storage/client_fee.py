"""The Flow fee: sectors x market.pricePerSector(), read live from the chain (read-only calls)."""

from __future__ import annotations

from dataclasses import dataclass

from zerog_storage._hex import from_hex, to_hex
from zerog_storage.contract import PRICE_PER_SECTOR_SELECTOR
from zerog_storage.hashing import keccak256
from zerog_storage.rpc import JsonRpcClient
from zerog_storage.submission import SubmissionData

__all__ = ["MARKET_SELECTOR", "FeeQuote", "FeeReader"]

MARKET_SELECTOR = keccak256(b"market()")[:4]


@dataclass(frozen=True, slots=True)
class FeeQuote:
    """What a submission costs at the current price."""

    sectors: int
    price_per_sector: int

    @property
    def fee(self) -> int:
        """Neuron paid as msg.value."""
        return self.sectors * self.price_per_sector


class FeeReader:
    """Reads Flow.market() and market.pricePerSector() through eth_call on an Ethereum RPC."""

    def __init__(self, rpc: JsonRpcClient, flow_address: str) -> None:
        self._rpc = rpc
        self._flow = flow_address
        self._market: str | None = None

    async def _call(self, to: str, data: bytes) -> bytes:
        result = await self._rpc.call("eth_call", {"to": to, "data": to_hex(data)}, "latest")
        return from_hex(str(result))

    async def market(self) -> str:
        """The market contract the Flow charges into (cached: a Flow never changes market)."""
        if self._market is None:
            word = await self._call(self._flow, MARKET_SELECTOR)
            if len(word) != 32:
                raise ValueError(f"Flow.market() answered {len(word)} bytes")
            self._market = to_hex(word[12:])
        return self._market

    async def price_per_sector(self) -> int:
        """The current price per sector in neuron (read live: the market may change it)."""
        word = await self._call(await self.market(), PRICE_PER_SECTOR_SELECTOR)
        if len(word) != 32:
            raise ValueError(f"pricePerSector() answered {len(word)} bytes")
        return int.from_bytes(word, "big")

    async def quote(self, submission: SubmissionData) -> FeeQuote:
        """The fee of `submission` at the current price."""
        return FeeQuote(submission.sectors, await self.price_per_sector())
