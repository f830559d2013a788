"""The broker's on-call gauges: the wallet's balance and the ledger's, read from the chain.

Polled rather than read at scrape time: a scrape runs in prometheus_client's thread, and a chain
read there would block it on the RPC. A failed read keeps the last values (logged); the alert on
a low ledger then still sees the last known balance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry, Gauge

from zerog_chain import ChainError, ComputeContracts

log = logging.getLogger("services.broker")
POLL_SECONDS = 30.0


class BalanceWatch:
    """zerog_broker_wallet_balance_neuron and zerog_broker_ledger_balance_neuron{kind}."""

    def __init__(
        self, compute: ComputeContracts, registry: CollectorRegistry, every: float = POLL_SECONDS
    ) -> None:
        self._compute = compute
        self._every = every
        self._task: asyncio.Task[None] | None = None
        self.wallet = Gauge(
            "zerog_broker_wallet_balance_neuron",
            "The platform wallet's native balance (pays gas, refills the ledger), in neuron",
            registry=registry,
        )
        self.ledger = Gauge(
            "zerog_broker_ledger_balance_neuron",
            "The compute ledger's balance, by kind (total, available), in neuron; 0 without one",
            ["kind"],
            registry=registry,
        )

    async def read(self) -> None:
        """Read both balances now."""
        w3 = self._compute.sender.w3
        self.wallet.set(await w3.eth.get_balance(w3.to_checksum_address(self._compute.user)))
        ledger = await self._compute.get_ledger()
        self.ledger.labels("total").set(ledger.total if ledger else 0)
        self.ledger.labels("available").set(ledger.available if ledger else 0)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.read()
            except (ChainError, OSError) as error:
                log.warning("balance read failed", extra={"error": type(error).__name__})
            except Exception:
                log.exception("balance read failed")
            await asyncio.sleep(self._every)
