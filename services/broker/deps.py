"""What the broker's RPCs share, built once by server.start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import httpx
from google.protobuf.message import Message

from services.broker.convert import fingerprint
from services.broker.credentials import Credentials
from services.broker.errors import Context, fail
from services.broker.operations import Alongside, run_once, transaction_id
from services.broker.providers import ProviderCache
from services.broker.refill import LedgerRefill
from services.broker.resume import send_once
from services.broker.settlement import SettlementWatcher
from services.broker.topup import TopUps
from zerog_chain import ComputeContracts, FlowContracts, NetworkProfile, Receipt, Wallet
from zerog_signing import IntentVerifier

M = TypeVar("M", bound=Message)


@dataclass
class Deps:
    """Everything the RPCs need."""

    pool: asyncpg.Pool
    profile: NetworkProfile
    wallet: Wallet
    compute: ComputeContracts
    flow: FlowContracts
    providers: ProviderCache
    credentials: Credentials
    topups: TopUps
    refill: LedgerRefill
    settlement: SettlementWatcher
    intents: IntentVerifier
    http: httpx.AsyncClient
    official: frozenset[str]


async def once(
    deps: Deps,
    context: Context,
    method: str,
    request: Message,
    request_id: str,
    response_type: type[M],
    work: Callable[[], Awaitable[M]],
    subject: str = "",
    alongside: Callable[[M], Alongside] | None = None,
) -> M:
    """Run `work` once per request_id and map every failure to a status."""
    try:
        answer, _ = await run_once(
            deps.pool, request_id, method, fingerprint(request), response_type, work, alongside
        )
    except Exception as error:
        await fail(context, error, subject)
    return answer


async def send_or_resume(
    deps: Deps, purpose: str, request_id: str, send: Callable[[str], Awaitable[Receipt]]
) -> Receipt:
    """A retry after a crash, a timeout or a lost broadcast answer gets the outcome of the
    transaction already signed for the caller's `request_id` (sent again byte for byte if the
    node lost it); `send(recorded_id)` signs a new one only when none of the earlier ones can
    land any more. Transactions are recorded under the caller-scoped id (transaction_id)."""
    recorded = transaction_id(request_id)
    return await send_once(
        deps.pool, deps.compute.sender, purpose, recorded, lambda: send(recorded)
    )
