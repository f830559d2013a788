"""RPCs of request credentials: the session-token header for a provider (with auto top-up) and
persistent API keys (create, list, revoke one, revoke all)."""

from __future__ import annotations

import time

from eth_utils.address import to_checksum_address

from services.broker import convert, store
from services.broker.convert import Problems
from services.broker.deps import Deps, once, send_or_resume
from services.broker.errors import Context, fail
from services.broker.operations import transaction_id
from services.broker.topup import TopUpResult
from zerog.broker.v1 import broker_service_pb2 as pb
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


def _api_key(row: store.ApiKeyRow) -> pb.ApiKey:
    key = pb.ApiKey(
        provider=row.provider,
        token_id=row.token_id,
        label=row.label,
        revoked=row.revoked,
        generation=row.generation,
    )
    key.created_at.FromDatetime(row.created_at)
    if row.expires_ms:
        key.expires_at.CopyFrom(convert.timestamp_ms(row.expires_ms))
    return key


class CredentialRpcs:
    """Credentials, keys, verification, usage, settlement."""

    deps: Deps

    async def GetRequestCredentials(
        self, request: pb.GetRequestCredentialsRequest, context: Context
    ) -> pb.GetRequestCredentialsResponse:
        problems = Problems()
        provider = problems.address(request.provider, "provider")
        await problems.check(context, "GetRequestCredentialsRequest")
        deps = self.deps
        try:
            service = await deps.providers.get(provider)
            next_fee = request.estimated_input_tokens * service.input_price
            # Ample headroom checked moments ago: no chain read, no provider call.
            account = deps.topups.fast(service.provider, next_fee)
            top_up = None
            if account is None:
                account = await deps.credentials.account(provider)
                top_up = await deps.topups.ensure(service.provider, next_input_fee=next_fee)
        except Exception as error:
            await fail(context, error, provider)
        token = deps.credentials.ephemeral(service.provider, account.generation)
        annotate({"zerog.provider": service.provider, "zerog.model": service.model})
        return pb.GetRequestCredentialsResponse(
            authorization=token.authorization,
            endpoint=service.url.rstrip("/") + "/v1/proxy",
            model=service.model,
            expires_at=convert.timestamp_ms(token.token.expires_at),
            provider=service.provider,
            user_address=deps.wallet.address,
            verifiable=service.verifiability == "TeeML",
            input_price_neuron=str(service.input_price),
            output_price_neuron=str(service.output_price),
            top_up=top_up_message(top_up),
        )

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        if len(request.label) > 200:
            problems["label"] = "at most 200 characters"
        expires_ms = 0
        if request.HasField("expires_at"):
            expires_ms = request.expires_at.ToMilliseconds()
            # At or before now is refused: a key already expired would otherwise be signed with
            # expiresAt 0, which means "never expires".
            if expires_ms <= int(time.time() * 1000):
                problems["expires_at"] = "must be in the future"
        await problems.check(context, "CreateApiKeyRequest")
        deps = self.deps

        async def work() -> pb.CreateApiKeyResponse:
            service = await deps.providers.get(provider)
            row, _ = await deps.credentials.create_api_key(
                service.provider, request.label, expires_ms
            )
            # The secret is not stored with the answer: a replay re-signs the same token.
            return pb.CreateApiKeyResponse(api_key=_api_key(row))

        answer = await once(
            deps,
            context,
            "CreateApiKey",
            request,
            request.request_id,
            pb.CreateApiKeyResponse,
            work,
        )
        row = await store.get_api_key(deps.pool, answer.api_key.provider, answer.api_key.token_id)
        assert row is not None
        answer.authorization = deps.credentials.reissue(row).authorization
        return answer

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        problems = Problems()
        if request.provider:
            problems.address(request.provider, "provider")
        size = request.page_size or 50
        if not 1 <= size <= 200:
            problems["page_size"] = "must be between 1 and 200"
        start = problems.offset(request.page_token)
        await problems.check(context, "ListApiKeysRequest")
        provider = request.provider
        if provider:
            provider = to_checksum_address(provider)
        rows = await store.list_api_keys(
            self.deps.pool, provider, request.include_revoked, start, size + 1
        )
        return pb.ListApiKeysResponse(
            api_keys=[_api_key(r) for r in rows[:size]],
            next_page_token=str(start + size) if len(rows) > size else "",
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        if request.token_id > 254:
            problems["token_id"] = "must be between 0 and 254"
        await problems.check(context, "RevokeApiKeyRequest")
        provider = to_checksum_address(provider)

        async def work() -> pb.RevokeApiKeyResponse:
            row, receipt = await self.deps.credentials.revoke(
                provider, request.token_id, transaction_id(request.request_id)
            )
            return pb.RevokeApiKeyResponse(api_key=_api_key(row), receipt=convert.receipt(receipt))

        return await once(
            self.deps,
            context,
            "RevokeApiKey",
            request,
            request.request_id,
            pb.RevokeApiKeyResponse,
            work,
            f"{provider}/{request.token_id}",
        )

    async def RevokeAllApiKeys(
        self, request: pb.RevokeAllApiKeysRequest, context: Context
    ) -> pb.RevokeAllApiKeysResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        await problems.check(context, "RevokeAllApiKeysRequest")
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
            count = await store.revoke_all_api_keys(deps.pool, service.provider)
            account = await deps.compute.get_account(service.provider)
            return pb.RevokeAllApiKeysResponse(
                generation=account.generation if account else 0,
                receipt=convert.receipt(receipt),
                revoked_count=count,
            )

        return await once(
            deps,
            context,
            "RevokeAllApiKeys",
            request,
            request.request_id,
            pb.RevokeAllApiKeysResponse,
            work,
            provider,
        )
