"""Starts a devnet provider in the running event loop: listen, register on chain, settle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field, replace

from aiohttp import web
from eth_account.signers.local import LocalAccount

from devnet.provider.app import build_app
from devnet.provider.auth import RequestAuthenticator
from devnet.provider.chain import ChainReader, provider_transactor, register_service
from devnet.provider.knobs import Knobs
from devnet.provider.ledger import FeeLedger
from devnet.provider.runtime import Runtime
from devnet.provider.settlement import Settler
from zerog_signing import LocalSigner

log = logging.getLogger("devnet.provider")


@dataclass(frozen=True)
class ProviderConfig:
    """One provider: where the chain is, who it is, what it serves and how it behaves."""

    rpc_url: str
    chain_id: int
    inference: str
    """InferenceServing (proxy) address."""
    account: LocalAccount = field(repr=False)
    """The provider's funded wallet: stakes, registers, settles."""
    tee: LocalSigner = field(repr=False)
    """Signs responses and settlements; registered as the service's teeSignerAddress."""
    model: str = "zerog-devnet-echo"
    knobs: Knobs = field(default_factory=Knobs)
    host: str = "127.0.0.1"
    port: int = 0
    settle_interval: float = 30.0
    advertise_host: str | None = None
    """Host name in the URL registered on chain (None: `host`)."""
    """Seconds between automatic settlements; 0 settles only on demand (POST /admin/settle)."""


@dataclass
class RunningProvider:
    """A started provider; stop() settles nothing and closes everything."""

    runtime: Runtime
    runner: web.AppRunner
    host: str
    port: int
    _site: web.TCPSite | None
    _settle_task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return self.runtime.url

    async def refuse(self, seconds: float) -> None:
        """Stops listening for `seconds` (clients get connection refused), then resumes."""
        if self._site is not None:
            await self._site.stop()
            self._site = None
        await asyncio.sleep(seconds)
        self.runtime.knobs = replace(self.runtime.knobs, outage="none", outage_seconds=0.0)
        self._site = web.TCPSite(self.runner, self.host, self.port, reuse_address=True)
        await self._site.start()

    async def stop(self) -> None:
        if self._settle_task is not None:
            self._settle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._settle_task
        await self.runner.cleanup()
        await self.runtime.chain.close()


async def _settle_forever(runtime: Runtime, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await runtime.settler.settle()
        except Exception:  # a failed round must not end settlement; the next one retries
            log.exception("settlement round failed")


async def start(config: ProviderConfig) -> RunningProvider:
    """Listens, registers the service (staking on first registration) and starts settling."""
    sender = await asyncio.to_thread(provider_transactor, config.rpc_url, config.account)
    provider = config.account.address
    ledger = FeeLedger()
    chain = ChainReader(config.rpc_url, config.inference, provider)
    runtime = Runtime(
        provider=provider,
        model=config.model,
        url="",
        inference=config.inference,
        tee=config.tee,
        sender=sender,
        chain=chain,
        ledger=ledger,
        settler=Settler(
            sender, config.tee, inference=config.inference, chain_id=config.chain_id, ledger=ledger
        ),
        auth=RequestAuthenticator(chain, provider, ledger),
        knobs=config.knobs,
    )
    holder: list[RunningProvider] = []

    async def on_refuse(seconds: float) -> None:
        await holder[0].refuse(seconds)

    runner = web.AppRunner(build_app(runtime, on_refuse), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_address=True)
    await site.start()
    port = runner.addresses[0][1]
    runtime.url = f"http://{config.advertise_host or config.host}:{port}"
    running = RunningProvider(runtime, runner, config.host, port, site)
    holder.append(running)
    try:
        await asyncio.to_thread(register_service, sender, config.inference, runtime.offer())
    except BaseException:
        await running.stop()
        raise
    if config.settle_interval > 0:
        running._settle_task = asyncio.create_task(_settle_forever(runtime, config.settle_interval))
    return running
