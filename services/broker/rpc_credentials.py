"""RPCs of request credentials: the session-token header for a provider (with auto top-up) and
persistent API keys (create, list, revoke one, revoke all)."""

from __future__ import annotations

from services.broker import convert
from services.broker.deps import Deps, once, send_or_resume, transaction_id
from services.broker.errors import about
from services.broker.store import accounts, api_keys
from services.broker.store.api_keys import ApiKeyRow
from services.broker.topup import TopUpResult
from services.broker.validate import Problems, provider_of
from services.broker.verification import trusted_signer
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import Rpcs, utc_now
from zerog_grpc.convert import timestamp, timestamp_ms
from zerog_grpc.handlers import Context
from zerog_grpc.tracing import annotate


def top_up_message(result: TopUpResult | None) -> pb.TopUp | None:
    """The TopUp message of a top-up, if one ran."""
    if result is None:
        return None
    return pb.TopUp(
        amount_neuron=str(result.amount),
        receipt=convert.receipt(result.receipt) if result.receipt else None,
        error=result.error,
    )


def _api_key(row: ApiKeyRow) -> pb.ApiKey:
    return pb.ApiKey(
        provider=row.provider,
        token_id=row.token_id,
        label=row.label,
        revoked=row.revoked,
        generation=row.generation,
        created_at=timestamp(row.created_at),
        expires_at=timestamp_ms(row.expires_ms) if row.expires_ms else None,
    )


class CredentialRpcs(Rpcs[Deps]):
    """Credentials, keys, verification, usage, settlement."""

    async def GetRequestCredentials(
        self, request: pb.GetRequestCredentialsRequest, context: Context
    ) -> pb.GetRequestCredentialsResponse:
        provider = provider_of(request)
        deps = self.deps
        with about(provider):
            service = await deps.providers.get(provider)
            next_fee = request.estimated_input_tokens * service.input_price
            # Ample headroom checked moments ago: no chain read, no provider call.
            account = deps.topups.fast(service.provider, next_fee)
            top_up = None
            if account is None:
                account = await deps.credentials.account(provider)
                top_up = await deps.topups.ensure(service.provider, next_input_fee=next_fee)
        token = deps.credentials.ephemeral(service.provider, account.generation)
        annotate({"zerog.provider": service.provider, "zerog.model": service.model})
        verifiable = service.verifiability == "TeeML"
        signer, untrusted = "", ""
        if verifiable:
            acknowledged = await accounts.get_acknowledgement(deps.pool, service.provider)
            signer, untrusted = trusted_signer(service, acknowledged)
        return pb.GetRequestCredentialsResponse(
            authorization=token.authorization,
            endpoint=service.url.rstrip("/") + "/v1/proxy",
            model=service.model,
            expires_at=timestamp_ms(token.token.expires_at),
            provider=service.provider,
            user_address=deps.wallet.address,
            verifiable=verifiable,
            input_price_neuron=str(service.input_price),
            output_price_neuron=str(service.output_price),
            top_up=top_up_message(top_up),
            response_signer=signer,
            signer_untrusted=untrusted,
        )

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        problems = Problems.of_mutation(request.request_id)
        provider = problems.address("provider", request.provider)
        if len(request.label) > 200:
            problems.add("label", "at most 200 characters")
        expires_ms = 0
        if request.HasField("expires_at"):
            expires_ms = request.expires_at.ToMilliseconds()
            # At or before now is refused: a key already expired would otherwise be signed with
            # expiresAt 0, which means "never expires".
            if expires_ms <= int(utc_now().timestamp() * 1000):
                problems.add("expires_at", "must be in the future")
        problems.check(request)
        deps = self.deps

        async def work() -> pb.CreateApiKeyResponse:
            service = await deps.providers.get(provider)
            row, _ = await deps.credentials.create_api_key(
                service.provider, request.label, expires_ms
            )
            # The secret is not stored with the answer: a replay re-signs the same token.
            return pb.CreateApiKeyResponse(api_key=_api_key(row))

        answer = await once(deps, request, pb.CreateApiKeyResponse, work)
        row = await api_keys.get_api_key(
            deps.pool, answer.api_key.provider, answer.api_key.token_id
        )
        assert row is not None
        answer.authorization = deps.credentials.reissue(row).authorization
        return answer

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        problems = Problems()
        provider = problems.address("provider", request.provider) if request.provider else ""
        size = problems.page_size(request.page_size)
        start = problems.offset(request.page_token)
        problems.check(request)
        rows = await api_keys.list_api_keys(
            self.deps.pool, provider, request.include_revoked, start, size + 1
        )
        return pb.ListApiKeysResponse(
            api_keys=[_api_key(r) for r in rows[:size]],
            next_page_token=str(start + size) if len(rows) > size else "",
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        problems = Problems.of_mutation(request.request_id)
        provider = problems.address("provider", request.provider)
        problems.within("token_id", request.token_id, 0, 254)
        problems.check(request)

        async def work() -> pb.RevokeApiKeyResponse:
            row, receipt = await self.deps.credentials.revoke(
                provider, request.token_id, transaction_id(request.request_id)
            )
            return pb.RevokeApiKeyResponse(api_key=_api_key(row), receipt=convert.receipt(receipt))

        key = f"{provider}/{request.token_id}"
        return await once(
            self.deps, request, pb.RevokeApiKeyResponse, work, subject=key, shield=True
        )

    async def RevokeAllApiKeys(
        self, request: pb.RevokeAllApiKeysRequest, context: Context
    ) -> pb.RevokeAllApiKeysResponse:
        provider = provider_of(request, Problems.of_mutation(request.request_id))
        deps = self.deps

        async def work() -> pb.RevokeAllApiKeysResponse:
            service = await deps.providers.get(provider)
            receipt = await send_or_resume(
                deps,
                "REVOKE_ALL_TOKENS",
                request.request_id,
                lambda tx_id: deps.compute.revoke_all_tokens(service.provider, request_id=tx_id),
            )
            deps.credentials.forget(service.provider)
            deps.topups.headroom.forget(service.provider)
            count = await api_keys.revoke_all_api_keys(deps.pool, service.provider)
            account = await deps.compute.get_account(service.provider)
            return pb.RevokeAllApiKeysResponse(
                generation=account.generation if account else 0,
                receipt=convert.receipt(receipt),
                revoked_count=count,
            )

        return await once(
            deps, request, pb.RevokeAllApiKeysResponse, work, subject=provider, shield=True
        )
