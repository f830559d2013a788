"""What the broker's RPCs share, built once by server.start, and the two rules every mutating
RPC follows: once per request_id of its caller, and a retry resumes its own transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import httpx
from google.protobuf.message import Message

from services.broker.credentials import Credentials
from services.broker.deposits import Deposits
from services.broker.errors import about
from services.broker.providers import ProviderCache
from services.broker.refill import LedgerRefill
from services.broker.resume import send_once
from services.broker.settlement import SettlementWatcher
from services.broker.topup import TopUps
from services.broker.user_intents import UserIntents
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import ComputeContracts, FlowContracts, NetworkProfile, Receipt, Wallet
from zerog_db import Alongside, Once, Request
from zerog_grpc import current_caller, request_ids

M = TypeVar("M", bound=Message)
# Every request that changes something; each carries the caller's request_id.
Mutation = (
    pb.CreateLedgerRequest
    | pb.DepositRequest
    | pb.TransferToProviderRequest
    | pb.RetrieveFundsRequest
    | pb.RefundRequest
    | pb.AcknowledgeProviderRequest
    | pb.CreateApiKeyRequest
    | pb.RevokeApiKeyRequest
    | pb.RevokeAllApiKeysRequest
    | pb.VerifyResponseRequest
    | pb.RecordUsageRequest
    | pb.InitAccountRequest
    | pb.FundRequest
    | pb.SubmitStorageRequest
    | pb.ChargeUserRequest
)


@dataclass
class Deps:
    """Everything the RPCs need."""

    pool: asyncpg.Pool
    once: Once
    profile: NetworkProfile
    wallet: Wallet
    compute: ComputeContracts
    flow: FlowContracts
    providers: ProviderCache
    credentials: Credentials
    topups: TopUps
    refill: LedgerRefill
    settlement: SettlementWatcher
    intents: UserIntents
    deposits: Deposits
    http: httpx.AsyncClient
    official: frozenset[str]


async def once(
    deps: Deps,
    request: Mutation,
    response_type: type[M],
    work: Callable[[], Awaitable[M]],
    *,
    subject: str = "",
    shield: bool = False,
    alongside: Callable[[M], Alongside] | None = None,
) -> M:
    """`work()` once per request_id of the calling service (another service's request_id of
    the same spelling is another operation); a retry gets the first answer. `shield` where
    money moves: a caller hanging up never leaves it half-moved. Refusals are about
    `subject` (errors.Refused)."""
    with about(subject):
        return await deps.once.run(
            asked(request), response_type, work, shield=shield, alongside=alongside
        )


def asked(request: Mutation) -> Request:
    """What the caller asks, for Once: keyed by who asked, named by the request's method."""
    method = type(request).__name__.removesuffix("Request")
    return Request.of(current_caller().service, request.request_id, method, request)


def transaction_id(request_id: str) -> str:
    """The id a transaction sent for the calling service's `request_id` is recorded under, so
    that a retry resumes its own transaction and never another service's."""
    return request_ids.scoped(current_caller().service, request_id)


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
