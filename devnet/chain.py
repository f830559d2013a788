"""The devnet launcher: anvil, the deployed 0G contracts, funded wallets, then extra services."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from web3 import Web3
from web3.types import RPCEndpoint

from devnet.anvil import DEFAULT_MNEMONIC, Anvil, AnvilConfig
from devnet.build import ensure_built
from devnet.contracts import DevnetContracts, devnet_contracts
from devnet.deploy import Transactor, deploy_compute, deploy_storage
from devnet.paths import DEFAULT_STATE_PATH
from devnet.services import DevnetService, ServiceHandle
from devnet.state import ContractAddresses, DevnetState
from devnet.wallets import A0GI, Wallet, derive_wallets

# Neuron per 256-byte sector. 0G's spec (section 7) quotes about 1.42e14 neuron for a ~1 MiB
# object on testnet, i.e. 4096-4600 sectors: about 3e10 per sector.
DEFAULT_PRICE_PER_SECTOR = 30_000_000_000
# Minimum InferenceServing accepts (3600..604800 s): refunds unlock after an hour, or at once
# after evm_increaseTime.
DEFAULT_LOCK_TIME = 3600
# Real networks use 3750 blocks (~25 min); with anvil's mine-per-transaction, 100 blocks lets a
# devnet session see epochs advance.
DEFAULT_BLOCKS_PER_EPOCH = 100
_ANVIL_DEFAULT_BALANCE_A0GI = 10_000


@dataclass(frozen=True)
class DevnetConfig:
    """Knobs of a devnet. Amounts in neuron; `port=None` picks a free port."""

    state_path: Path = DEFAULT_STATE_PATH
    chain_id: int = 31337
    port: int | None = None
    wallet_count: int = 10
    wallet_balance: int = 10_000 * A0GI
    price_per_sector: int = DEFAULT_PRICE_PER_SECTOR
    lock_time: int = DEFAULT_LOCK_TIME
    blocks_per_epoch: int = DEFAULT_BLOCKS_PER_EPOCH
    block_time: float | None = None
    """None: a block per transaction. Else interval mining, switched on after the deploys."""
    mnemonic: str = DEFAULT_MNEMONIC
    anvil_binary: Path | None = None
    host: str = "127.0.0.1"
    """Bind address of anvil (and, through default_services, of the other services)."""
    advertise_host: str | None = None
    """Host name written into published URLs (None: `host`), e.g. a container's DNS name."""


@dataclass
class Timings:
    """Seconds spent in each start-up phase."""

    compile: float = 0.0
    anvil: float = 0.0
    deploy: float = 0.0
    services: float = 0.0

    @property
    def total(self) -> float:
        return self.compile + self.anvil + self.deploy + self.services


@dataclass
class Devnet:
    """A running devnet. Prefer `with Devnet.start(config) as net:`; `launch()` + `stop()` too."""

    config: DevnetConfig
    state: DevnetState
    anvil: Anvil
    timings: Timings
    _handles: list[tuple[str, ServiceHandle]] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def start(
        cls, config: DevnetConfig | None = None, services: Sequence[DevnetService] = ()
    ) -> Iterator[Devnet]:
        """Launches a devnet for the `with` block and stops it, leaving no process, after."""
        net = cls.launch(config, services)
        try:
            yield net
        finally:
            net.stop()

    @classmethod
    def launch(
        cls, config: DevnetConfig | None = None, services: Sequence[DevnetService] = ()
    ) -> Devnet:
        """Compiles if needed, starts anvil, deploys, funds, writes the state file, starts
        `services`; on any failure undoes what was started and re-raises."""
        config = config or DevnetConfig()
        timings = Timings()
        started = time.monotonic()
        ensure_built()
        timings.compile = _lap(started)

        started = time.monotonic()
        keys = derive_wallets(config.mnemonic, 1 + config.wallet_count)
        anvil = Anvil.start(
            AnvilConfig(
                chain_id=config.chain_id,
                mnemonic=config.mnemonic,
                accounts=len(keys),
                balance_a0gi=_ANVIL_DEFAULT_BALANCE_A0GI,
                port=config.port,
                host=config.host,
                advertise_host=config.advertise_host,
                binary=config.anvil_binary,
            )
        )
        timings.anvil = _lap(started)
        net: Devnet | None = None
        try:
            started = time.monotonic()
            state = _deploy(config, anvil, keys[0], tuple(keys[1:]))
            timings.deploy = _lap(started)
            net = cls(config=config, state=state, anvil=anvil, timings=timings)
            state.save(config.state_path)
            started = time.monotonic()
            net._start_services(services)
            timings.services = _lap(started)
            return net
        except BaseException:
            if net is not None:
                net.stop()
            else:
                anvil.stop()
            raise

    def _start_services(self, services: Sequence[DevnetService]) -> None:
        for service in services:
            # Services started here reach the chain the local way; they publish their own URLs.
            handle = service.start(replace(self.state, rpc_url=self.anvil.local_url))
            self._handles.append((service.name, handle))
            published = {**self.state.services, service.name: dict(handle.info())}
            self.state = replace(self.state, services=published)
            self.state.save(self.config.state_path)

    def web3(self) -> Web3:
        """A new web3 connection to the devnet's RPC."""
        return Web3(Web3.HTTPProvider(self.anvil.local_url))

    def contracts(self, w3: Web3 | None = None) -> DevnetContracts:
        """The deployed contracts, bound to `w3` (a new connection by default)."""
        return devnet_contracts(w3 or self.web3(), self.state)

    def stop(self) -> None:
        """Stops services (reverse order), then anvil; removes the state file if it is ours."""
        errors: list[BaseException] = []
        while self._handles:
            _, handle = self._handles.pop()
            try:
                handle.stop()
            except Exception as error:  # keep stopping the rest, report afterwards
                errors.append(error)
        self.anvil.stop()
        _remove_state_file(self.config.state_path, self.anvil.pid)
        if errors:
            raise errors[0]


def _lap(started: float) -> float:
    return time.monotonic() - started


def _deploy(
    config: DevnetConfig, anvil: Anvil, deployer: Wallet, wallets: tuple[Wallet, ...]
) -> DevnetState:
    w3 = Web3(Web3.HTTPProvider(anvil.local_url))
    if config.wallet_balance != _ANVIL_DEFAULT_BALANCE_A0GI * A0GI:
        for wallet in wallets:
            w3.provider.make_request(
                RPCEndpoint("anvil_setBalance"), [wallet.address, hex(config.wallet_balance)]
            )
    sender = Transactor(w3, deployer.account())
    compute = deploy_compute(sender, config.lock_time)
    storage = deploy_storage(sender, config.price_per_sector, config.blocks_per_epoch)
    if config.block_time is not None:
        # Deploying with a block per transaction is fast; the chosen rhythm starts afterwards.
        w3.provider.make_request(RPCEndpoint("evm_setIntervalMining"), [config.block_time])
    return DevnetState(
        rpc_url=anvil.rpc_url,
        chain_id=config.chain_id,
        anvil_pid=anvil.pid,
        contracts=ContractAddresses(
            ledger_manager=compute.ledger,
            inference_serving=compute.inference,
            flow=storage.flow,
            fixed_price_market=storage.market,
            ledger_manager_implementation=compute.ledger_implementation,
            inference_serving_implementation=compute.inference_implementation,
        ),
        inference_service_name=compute.inference_service_name,
        lock_time=config.lock_time,
        price_per_sector=config.price_per_sector,
        blocks_per_epoch=config.blocks_per_epoch,
        deployer=deployer,
        wallets=wallets,
        wallet_balance=config.wallet_balance,
    )


def _remove_state_file(path: Path, anvil_pid: int) -> None:
    """Deletes the state file unless another devnet has overwritten it since."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        if json.loads(path.read_text())["anvil_pid"] == anvil_pid:
            path.unlink()
