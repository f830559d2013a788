"""The broker's settings, read once from the environment and validated at start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.broker.amounts import A0GI
from services.broker.policy import DEFAULT_ALLOW
from zerog_grpc import ServiceSettings
from zerog_grpc.settings import ConfigError, Env

# seeds/000: the official providers on the live networks.
OFFICIAL_PROVIDERS = (
    "0xf07240Efa67755B5311bc75784a061eDB47165Dd",
    "0x3feE5a4dd5FDb8a32dDA97Bed899830605dBD9D3",
)


def _neuron(env: Env, name: str, default: int) -> int:
    raw = env.values.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} must be an integer amount of neuron, got {raw!r}")
    return int(raw)


def _address(env: Env, name: str) -> str:
    raw = env.values.get(name, "")
    if raw and not re.fullmatch(r"0x[0-9a-fA-F]{40}", raw):
        raise ConfigError(f"{name} must be a 0x-prefixed 40-hex-digit address, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Config(ServiceSettings):
    """Everything the broker reads from its environment (repr hides secrets)."""

    private_key: str = field(default="", repr=False)
    network: str = "devnet"
    rpc_url: str = ""
    devnet_state: Path | None = None
    official_providers: tuple[str, ...] = OFFICIAL_PROVIDERS
    provider_cache_ttl_seconds: float = 60.0
    # The SDK's auto-funding rule: keep unsettled + min_balance locked, top up by at least
    # topup_amount.
    min_balance_neuron: int = 2 * A0GI
    topup_amount_neuron: int = A0GI
    # The most one automatic top-up may move, so a provider reporting a huge unsettled fee
    # cannot drain the ledger into its sub-account. 0: derived per top-up from recent usage,
    # max(min_balance + topup_amount, 2 x the provider's usage recorded in the last 24 h)
    # plus the next call's input fee (topup.TopUps.cap). Above it the top-up is refused.
    topup_max_neuron: int = 0
    # How old the last full balance check of a provider may be before a call re-checks it
    # (calls in between need no chain read while the headroom is ample).
    topup_check_seconds: float = 2.0
    # Refill the ledger from the wallet when its available balance is below the floor (0: off).
    ledger_min_balance_neuron: int = 0
    ledger_refill_neuron: int = 0
    receipt_timeout_seconds: float = 60.0
    # One chain RPC call's deadline; a broadcast whose answer misses it is resumed, not resent.
    rpc_timeout_seconds: float = 10.0
    # How long start-up waits for the chain to answer (retries included) before giving up.
    startup_timeout_seconds: float = 30.0
    settlement_interval_seconds: float = 15.0
    # Settlement reconciliation reads only blocks this far below the latest, so a reorg up to
    # that depth never leaves a settlement counted that the chain no longer has. Default: 0 on
    # the devnet (anvil reorgs only when a test asks it to), 6 on testnet and mainnet.
    settlement_confirmations: int = 0
    intent_window_seconds: int = 300
    # Where users pay their own deposits (Fund); empty: the platform wallet's address.
    deposit_address: str = ""
    # Confirmations a deposit needs before Fund credits it (its own block counts as one).
    # Default: 1 on the devnet, 6 on testnet and mainnet.
    deposit_confirmations: int = 1
    # How long one Fund waits for the deposit to be mined and confirmed before answering
    # UNAVAILABLE (DEPOSIT_UNCONFIRMED); its retry with the same request_id resumes.
    deposit_wait_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = Env(environ)
        network = env.text("ZG_NETWORK", "devnet")
        if network not in ("devnet", "testnet", "mainnet"):
            raise ConfigError(f"ZG_NETWORK must be devnet, testnet or mainnet, got {network!r}")
        state = env.values.get("DEVNET_STATE") or None
        if network == "devnet" and state is None:
            raise ConfigError("DEVNET_STATE is required when ZG_NETWORK is devnet")
        official = env.values.get("OFFICIAL_PROVIDERS")
        topup_amount = _neuron(env, "TOPUP_AMOUNT_NEURON", A0GI)
        topup_max = _neuron(env, "TOPUP_MAX_NEURON", 0)
        if 0 < topup_max < topup_amount:
            # Every top-up moves at least topup_amount: such a cap would refuse them all.
            raise ConfigError("TOPUP_MAX_NEURON must be 0 (derived) or >= TOPUP_AMOUNT_NEURON")
        common = ServiceSettings.read(
            env, audience="broker", allow=DEFAULT_ALLOW, port=50052, metrics_port=9465
        )
        # A send holds a connection for the wallet's nonce lock while others record it.
        common["db_pool_size"] = env.integer("DB_POOL_SIZE", 20, minimum=4)
        return cls(
            **common,
            private_key=env.secret("ZG_PRIVATE_KEY"),
            network=network,
            rpc_url=env.text("ZG_RPC_URL"),
            devnet_state=Path(state) if state else None,
            official_providers=tuple(p.strip() for p in official.split(",") if p.strip())
            if official is not None
            else OFFICIAL_PROVIDERS,
            provider_cache_ttl_seconds=env.number("PROVIDER_CACHE_TTL_SECONDS", 60.0, 0.1),
            min_balance_neuron=_neuron(env, "TOPUP_MIN_BALANCE_NEURON", 2 * A0GI),
            topup_amount_neuron=topup_amount,
            topup_max_neuron=topup_max,
            topup_check_seconds=env.number("TOPUP_CHECK_SECONDS", 2.0, 0.0),
            ledger_min_balance_neuron=_neuron(env, "LEDGER_MIN_BALANCE_NEURON", 0),
            ledger_refill_neuron=_neuron(env, "LEDGER_REFILL_NEURON", 0),
            receipt_timeout_seconds=env.number("RECEIPT_TIMEOUT_SECONDS", 60.0, 1.0),
            rpc_timeout_seconds=env.number("ZG_RPC_TIMEOUT_SECONDS", 10.0, 0.1),
            startup_timeout_seconds=env.number("STARTUP_TIMEOUT_SECONDS", 30.0, 0.1),
            settlement_interval_seconds=env.number("SETTLEMENT_INTERVAL_SECONDS", 15.0, 0.1),
            settlement_confirmations=env.integer(
                "SETTLEMENT_CONFIRMATIONS", 0 if network == "devnet" else 6, minimum=0
            ),
            intent_window_seconds=env.integer("INTENT_WINDOW_SECONDS", 300, minimum=1),
            deposit_address=_address(env, "DEPOSIT_ADDRESS"),
            deposit_confirmations=env.integer(
                "DEPOSIT_CONFIRMATIONS", 1 if network == "devnet" else 6, minimum=1
            ),
            deposit_wait_seconds=env.number("DEPOSIT_WAIT_SECONDS", 30.0, 0.0),
        )
