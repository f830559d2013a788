"""What inference asks of the broker: the provider list, credentials (with the signer that TEE
checks trust), and a wallet user's authorization and charge for a paid call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import TYPE_CHECKING

import grpc
import grpc.aio

from services.inference.credential_cache import REFRESH_SECONDS, CredentialCache, Issued
from services.inference.errors import ProviderError, WalletRefused
from services.inference.provider_http import Credentials
from services.inference.routing import Provider
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog_grpc import Monotonic, TokenMinter, monotonic, relayed, request_ids

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub

# Broker refusals that concern this provider only (not acknowledged, cannot be funded).
_PROVIDER_SPECIFIC = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND}
# Broker refusals of a wallet user's paid call that are the caller's to hear as they are.
_WALLET_REFUSALS = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INVALID_ARGUMENT,
}


class BrokerClient:
    """Calls the broker as the inference service; the provider list is cached briefly and
    request credentials are held per provider (credential_cache)."""

    def __init__(
        self,
        stub: BrokerServiceAsyncStub,
        minter: TokenMinter,
        timeout: float,
        cache_seconds: float = 10.0,
        clock: Monotonic = monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._stub = stub
        self._minter = minter
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._cached: tuple[float, list[Provider]] | None = None
        self._clock = clock
        self.cache = CredentialCache(
            self.issue, refresh_seconds=refresh_seconds, fetch_seconds=timeout, clock=clock
        )

    def _metadata(self, user: str = "") -> tuple[tuple[str, str], ...]:
        return self._minter.metadata("broker", user)

    async def providers(self) -> list[Provider]:
        """Every inference provider the broker discovered (all pages)."""
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < self._cache_seconds:
            return self._cached[1]
        found: list[Provider] = []
        token = ""
        while True:
            page = await self._stub.ListProviders(
                bpb.ListProvidersRequest(page_size=200, page_token=token),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
            found += [_provider(p) for p in page.providers]
            token = page.next_page_token
            if not token:
                break
        self._cached = (now, found)
        return found

    def forget_providers(self) -> None:
        """Drop the cached list, so the next call reads the broker again."""
        self._cached = None

    async def credentials(self, provider: str, limit_seconds: float) -> Credentials:
        """The headers to call `provider`, held per provider (no broker call while they last);
        ProviderError when the broker cannot issue them. The held credential serves every user
        and request: the broker issues one session token per provider anyway."""
        return await self.cache.get(provider, limit_seconds)

    async def issue(self, provider: str, limit_seconds: float) -> Issued:
        """Ask the broker for `provider`'s credentials; ProviderError when it cannot issue."""
        try:
            r = await self._stub.GetRequestCredentials(
                bpb.GetRequestCredentialsRequest(provider=provider),
                metadata=self._metadata(),
                timeout=min(limit_seconds, self._timeout),
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise ProviderError("timeout", "broker timed out", retryable=True) from error
            refused = code in _PROVIDER_SPECIFIC
            raise ProviderError(
                "credentials_refused" if refused else "credentials_unavailable",
                f"broker: {code.name}: {error.details()}",
                retryable=not refused,
                refusal=relayed(error) if refused else None,
            ) from error
        credentials = Credentials(
            provider=r.provider or provider,
            authorization=r.authorization,
            endpoint=r.endpoint,
            model=r.model,
            verifiable=r.verifiable,
            input_price=int(r.input_price_neuron or 0),
            output_price=int(r.output_price_neuron or 0),
            response_signer=r.response_signer,
            signer_untrusted=r.signer_untrusted,
        )
        # No expiry (or 0, which a session token uses for never) holds until replaced.
        expires = r.expires_at.ToDatetime(tzinfo=UTC) if r.expires_at.ToMilliseconds() else None
        return Issued(credentials, expires)

    async def stop(self) -> None:
        """End the credential refreshers."""
        await self.cache.stop()

    async def authorize_user(
        self, intent: bpb.SignedIntent, min_balance_neuron: int
    ) -> bpb.UserAccount:
        """The wallet user's account if the broker accepts the signed intent and the balance
        covers `min_balance_neuron` (nothing is spent); WalletRefused otherwise."""
        with _wallet_refusals():
            r = await self._stub.AuthorizeUser(
                bpb.AuthorizeUserRequest(intent=intent, min_balance_neuron=str(min_balance_neuron)),
                metadata=self._metadata(),
                timeout=self._timeout,
            )
        return r.account

    async def charge_user(
        self, usage_id: str, intent: bpb.SignedIntent, fee_neuron: int
    ) -> bpb.ChargeUserResponse:
        """Debit one call's fee from the wallet user's balance, once per `usage_id`."""
        with _wallet_refusals():
            return await self._stub.ChargeUser(
                bpb.ChargeUserRequest(
                    # Its own id: the broker keeps one request_id space for all of our calls,
                    # and the usage id is RecordUsage's.
                    request_id=request_ids.derived("charge", usage_id),
                    intent=intent,
                    fee_neuron=str(fee_neuron),
                    usage_id=usage_id,
                ),
                metadata=self._metadata(),
                timeout=self._timeout,
            )


@contextmanager
def _wallet_refusals() -> Iterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as error:
        if error.code() in _WALLET_REFUSALS:
            raise WalletRefused(error) from None
        raise


def _provider(p: bpb.Provider) -> Provider:
    return Provider(
        address=p.address,
        url=p.url,
        model=p.model,
        input_price=int(p.input_price_neuron or 0),
        output_price=int(p.output_price_neuron or 0),
        verifiable=p.verifiable,
        official=p.official,
    )
