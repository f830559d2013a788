"""Assemble a running broker: chain connection (chain id checked), caches, background loops
and the gRPC server. Used by __main__ and by tests alike."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from services.broker.config import Config
from services.broker.credentials import Credentials
from services.broker.deposits import Deposits
from services.broker.deps import Deps
from services.broker.errors import ERRORS
from services.broker.metrics import BalanceWatch
from services.broker.providers import ProviderCache
from services.broker.refill import LedgerRefill
from services.broker.rpc_accounts import AccountRpcs
from services.broker.rpc_charges import ChargeRpcs
from services.broker.rpc_credentials import CredentialRpcs
from services.broker.rpc_ledger import LedgerRpcs
from services.broker.rpc_providers import ProviderRpcs
from services.broker.rpc_usage import UsageRpcs
from services.broker.settlement import SettlementWatcher
from services.broker.store.transactions import PgNonceGuard, PgRecorder
from services.broker.topup import TopUps
from services.broker.unsettled import UnsettledFees
from services.broker.user_intents import NONCES, UserIntents
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_chain import (
    ComputeContracts,
    FlowContracts,
    TxSender,
    Wallet,
    connect,
    network_profile,
)
from zerog_db import Once
from zerog_grpc import ServiceServer, start_server
from zerog_signing import IntentVerifier, PostgresNonceStore, ReplayGuard

log = logging.getLogger("services.broker")


SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BrokerService"].full_name


class BrokerService(
    LedgerRpcs,
    ProviderRpcs,
    CredentialRpcs,
    UsageRpcs,
    AccountRpcs,
    ChargeRpcs,
    broker_service_pb2_grpc.BrokerServiceServicer,
):
    """The broker's gRPC servicer."""


@dataclass
class BrokerServer(ServiceServer):
    """The gRPC server and what lives and dies with it."""

    deps: Deps
    balances: BalanceWatch

    async def stop_parts(self, grace: float | None) -> None:
        await self.balances.stop()

    async def close(self) -> None:
        await self.deps.providers.stop()
        await self.deps.settlement.stop()
        await self.deps.http.aclose()
        await self.deps.compute.sender.w3.provider.disconnect()


async def start(
    pool: asyncpg.Pool,
    config: Config,
    address: str,
    registry: CollectorRegistry | None = None,
) -> BrokerServer:
    """Start the broker on `address` (the pool's database is migrated); refuses a wrong chain."""
    registry = registry or CollectorRegistry()
    profile = network_profile(config.network, config.devnet_state)
    w3 = await connect(
        profile,
        config.rpc_url,
        rpc_timeout=config.rpc_timeout_seconds,
        deadline=config.startup_timeout_seconds,
    )
    wallet = Wallet(config.private_key)
    sender = TxSender(
        w3,
        wallet,
        profile.chain_id,
        recorder=PgRecorder(pool),
        receipt_timeout=config.receipt_timeout_seconds,
        nonce_guard=PgNonceGuard(pool),
    )
    compute = ComputeContracts(w3, profile, sender)
    providers = ProviderCache(compute, config.provider_cache_ttl_seconds)
    guard = ReplayGuard(
        PostgresNonceStore(pool, table=NONCES),
        window=timedelta(seconds=config.intent_window_seconds),
    )
    http = httpx.AsyncClient(timeout=10.0)
    credentials = Credentials(pool, compute, wallet.signer)
    refill = LedgerRefill(
        pool,
        compute,
        floor=config.ledger_min_balance_neuron,
        amount=config.ledger_refill_neuron,
    )
    unsettled = UnsettledFees(pool, http, credentials, providers, wallet.address)
    deps = Deps(
        pool=pool,
        once=Once(pool),
        profile=profile,
        wallet=wallet,
        compute=compute,
        flow=FlowContracts(w3, profile.flow, sender),
        providers=providers,
        credentials=credentials,
        topups=TopUps(
            pool,
            compute,
            unsettled,
            refill,
            min_balance=config.min_balance_neuron,
            topup_amount=config.topup_amount_neuron,
            max_amount=config.topup_max_neuron,
            check_seconds=config.topup_check_seconds,
            registry=registry,
        ),
        refill=refill,
        settlement=SettlementWatcher(pool, compute, config.settlement_confirmations),
        intents=UserIntents(IntentVerifier(guard, chain_id=profile.chain_id)),
        deposits=Deposits(
            w3,
            config.deposit_address or wallet.address,
            confirmations=config.deposit_confirmations,
            wait_seconds=config.deposit_wait_seconds,
        ),
        http=http,
        official=frozenset(p.lower() for p in config.official_providers),
    )
    servicer = BrokerService(deps)
    add = broker_service_pb2_grpc.add_BrokerServiceServicer_to_server
    running = await start_server(
        address, [SERVICE_NAME], lambda s: add(servicer, s), config, registry, errors=ERRORS
    )
    log.info("broker wallet", extra={"wallet": wallet.address})
    providers.start()
    deps.settlement.start(config.settlement_interval_seconds)
    balances = BalanceWatch(compute, registry)
    balances.start()
    return BrokerServer(running, deps, balances)
