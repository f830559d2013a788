"""What we owe a provider and it has not settled yet: the provider's own figure
(`GET /v1/user/{user}/unsettledfee`, Bearer session token), as the SDK asks it, with our record
(usage minus settlements seen on chain) as the fallback when the provider cannot answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
import httpx

from services.broker.credentials import Credentials
from services.broker.errors import BrokerError
from services.broker.providers import ProviderCache
from services.broker.store import usage
from zerog_chain import AccountInfo, ChainError

log = logging.getLogger("services.broker")


@dataclass(frozen=True, slots=True)
class Owed:
    """An unsettled amount and where it came from ('provider' or 'local')."""

    amount: int
    source: str


@dataclass
class UnsettledFees:
    """Asks the provider, falls back to our records."""

    pool: asyncpg.Pool
    http: httpx.AsyncClient
    credentials: Credentials
    providers: ProviderCache
    user: str
    timeout: float = 5.0

    async def local(self, provider: str) -> int:
        """Our record: fees recorded minus fees settled on chain."""
        return await usage.unsettled_fees(self.pool, provider)

    async def owed(self, provider: str, account: AccountInfo | None) -> Owed:
        """The provider's figure when it answers, else ours.

        When both are known the larger counts: our record can be ahead of the provider's (a
        call it has not metered yet), and under-funding gets calls refused.
        """
        local = await self.local(provider)
        if account is None:
            return Owed(local, "local")  # no sub-account: the provider refuses our token
        remote = await self._ask(provider, account.generation)
        return Owed(local, "local") if remote is None else Owed(max(remote, local), "provider")

    async def _ask(self, provider: str, generation: int) -> int | None:
        try:
            service = await self.providers.get(provider)
            token = self.credentials.ephemeral(service.provider, generation)
            reply = await self.http.get(
                f"{service.url.rstrip('/')}/v1/user/{self.user}/unsettledfee",
                headers={"Authorization": token.authorization},
                timeout=self.timeout,
            )
            if reply.status_code != 200:
                log.warning(
                    "provider refused the unsettled fee query",
                    extra={"provider": provider, "status": reply.status_code},
                )
                return None
            return int(reply.json()["unsettledFee"])
        except (httpx.HTTPError, BrokerError, ChainError, ValueError, KeyError, TypeError) as error:
            log.warning(
                "provider unsettled fee unavailable, using our records",
                extra={"provider": provider, "error": type(error).__name__},
            )
            return None
