"""Everything one provider process holds: identity, knobs, fee ledger, chain access."""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx

from devnet.deploy import Transactor
from devnet.provider.auth import RequestAuthenticator
from devnet.provider.chain import ChainReader, ServiceOffer, register_service
from devnet.provider.knobs import Knobs
from devnet.provider.ledger import FeeLedger
from devnet.provider.settlement import Settler
from zerog_signing import LocalSigner

SIGNATURES_KEPT = 100_000
"""Chat signatures are served from memory; the oldest are forgotten past this many."""


@dataclass
class Signatures:
    """chat id -> (signed text, signature), bounded."""

    _items: OrderedDict[str, tuple[str, str]] = field(default_factory=OrderedDict)

    def put(self, chat_id: str, text: str, signature: str) -> None:
        self._items[chat_id] = (text, signature)
        while len(self._items) > SIGNATURES_KEPT:
            self._items.popitem(last=False)

    def get(self, chat_id: str) -> tuple[str, str] | None:
        return self._items.get(chat_id)


@dataclass
class Runtime:
    """Shared by the request handlers; lives as long as the server."""

    provider: str
    model: str
    url: str
    inference: str
    tee: LocalSigner
    sender: Transactor
    chain: ChainReader
    ledger: FeeLedger
    settler: Settler
    auth: RequestAuthenticator
    knobs: Knobs
    upstream: str | None = None
    http: httpx.AsyncClient | None = None
    signatures: Signatures = field(default_factory=Signatures)
    rng: random.Random = field(default_factory=random.Random)
    requests_served: int = 0

    def offer(self, knobs: Knobs | None = None) -> ServiceOffer:
        knobs = knobs or self.knobs
        return ServiceOffer(
            url=self.url,
            model=self.model,
            input_price=knobs.input_price,
            output_price=knobs.output_price,
            tee_signer=self.tee.address,
        )

    async def apply_knobs(self, knobs: Knobs) -> None:
        """Switches knobs; new prices are registered on chain first, as a real provider must."""
        if (knobs.input_price, knobs.output_price) != (
            self.knobs.input_price,
            self.knobs.output_price,
        ):
            await asyncio.to_thread(
                register_service, self.sender, self.inference, self.offer(knobs)
            )
        self.knobs = knobs

    def inject_error(self) -> bool:
        """True when the error-rate knob says this call fails."""
        rate = self.knobs.error_rate
        return rate > 0 and (rate >= 1 or self.rng.random() < rate)

    def status(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "url": self.url,
            "model": self.model,
            "tee_signer": self.tee.address,
            "knobs": self.knobs.to_json(),
            "unsettled": {b.user: str(b.total_fee) for b in self.ledger.batches()},
            "settled": {u: str(v) for u, v in self.ledger.settled_total.items()},
            "requests_served": self.requests_served,
        }
