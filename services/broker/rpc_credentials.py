"""RPCs for request credentials, API keys, response verification, usage and settlement."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

import httpx

from services.broker import convert, store
from services.broker.convert import Problems
from services.broker.deps import Deps, once
from services.broker.errors import Context, ProviderNotVerifiable, fail
from services.broker.topup import TopUpResult
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import ChainError
from zerog_signing import verify_tee_response

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _top_up(result: TopUpResult | None) -> pb.TopUp | None:
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
            account = await deps.credentials.account(provider)
            top_up = await deps.topups.ensure(
                service.provider,
                next_input_fee=request.estimated_input_tokens * service.input_price,
            )
        except Exception as error:
            await fail(context, error, provider)
        token = deps.credentials.ephemeral(service.provider, account.generation)
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
            top_up=_top_up(top_up),
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
            if expires_ms <= 0:
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
        if request.page_token and not request.page_token.isdigit():
            problems["page_token"] = "not a token this service issued"
        await problems.check(context, "ListApiKeysRequest")
        start = int(request.page_token or 0)
        provider = request.provider
        if provider:
            from eth_utils.address import to_checksum_address

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
        from eth_utils.address import to_checksum_address

        provider = to_checksum_address(provider)

        async def work() -> pb.RevokeApiKeyResponse:
            row, receipt = await self.deps.credentials.revoke(
                provider, request.token_id, request.request_id
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
            receipt = await deps.compute.revoke_all_tokens(
                service.provider, request_id=request.request_id
            )
            deps.credentials.forget(service.provider)
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

    async def VerifyResponse(
        self, request: pb.VerifyResponseRequest, context: Context
    ) -> pb.VerifyResponseResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        if not request.chat_id or "/" in request.chat_id:
            problems["chat_id"] = "required, without '/'"
        for name in ("request_sha256", "response_sha256"):
            value = getattr(request, name)
            if value and not _SHA256.fullmatch(value):
                problems[name] = "must be 64 lowercase hex digits"
        await problems.check(context, "VerifyResponseRequest")
        deps = self.deps

        async def work() -> pb.VerifyResponseResponse:
            service = await deps.providers.get(provider)
            if service.verifiability != "TeeML":
                raise ProviderNotVerifiable(f"provider {provider} is not a TeeML service")
            expected = convert.tee_signer(service)
            answer = await _check_signature(
                deps.http, service.url, service.model, request, expected
            )
            await store.record_verification(
                deps.pool,
                request.request_id,
                service.provider,
                request.chat_id,
                answer.valid,
                answer.reason,
                answer.signing_address,
            )
            return answer

        return await once(
            deps,
            context,
            "VerifyResponse",
            request,
            request.request_id,
            pb.VerifyResponseResponse,
            work,
            provider,
        )

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: Context
    ) -> pb.RecordUsageResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        fee = problems.neuron(request.fee_neuron, "fee_neuron", optional=True)
        await problems.check(context, "RecordUsageRequest")
        deps = self.deps

        async def work() -> pb.RecordUsageResponse:
            service = await deps.providers.get(provider)
            cost = (
                fee
                if fee >= 0
                else (
                    request.input_tokens * service.input_price
                    + request.output_tokens * service.output_price
                )
            )
            this_fee, total = await store.record_usage(
                deps.pool,
                request.request_id,
                service.provider,
                request.user,
                request.chat_id,
                request.input_tokens,
                request.output_tokens,
                cost,
            )
            try:
                top_up = await deps.topups.ensure(service.provider)
            except ChainError as error:
                top_up = TopUpResult(0, None, getattr(error, "name", type(error).__name__))
            return pb.RecordUsageResponse(
                fee_neuron=str(this_fee), recorded_total_neuron=str(total), top_up=_top_up(top_up)
            )

        return await once(
            deps,
            context,
            "RecordUsage",
            request,
            request.request_id,
            pb.RecordUsageResponse,
            work,
            provider,
        )

    async def GetSettlementReport(
        self, request: pb.GetSettlementReportRequest, context: Context
    ) -> pb.GetSettlementReportResponse:
        problems = Problems()
        if request.provider:
            problems.address(request.provider, "provider")
        await problems.check(context, "GetSettlementReportRequest")
        try:
            block = await self.deps.settlement.sync()
        except Exception as error:
            await fail(context, error)
        rows = await self.deps.settlement.report(request.provider)
        return pb.GetSettlementReportResponse(
            block_number=block,
            providers=[
                pb.ProviderSettlement(
                    provider=r["provider"],
                    recorded_fee_neuron=str(int(r["recorded"])),
                    settled_fee_neuron=str(int(r["settled"])),
                    outstanding_neuron=str(int(r["recorded"]) - int(r["settled"])),
                    recorded_calls=r["calls"],
                    settlements=r["settlements"],
                    transferred_neuron=str(int(r["transferred"])),
                )
                for r in rows
            ],
        )

    async def ListTransactions(
        self, request: pb.ListTransactionsRequest, context: Context
    ) -> pb.ListTransactionsResponse:
        problems = Problems()
        size = request.page_size or 50
        if not 1 <= size <= 200:
            problems["page_size"] = "must be between 1 and 200"
        after = None
        if request.page_token:
            stamp, _, tx_hash = request.page_token.partition("|")
            try:
                after = (datetime.fromisoformat(stamp), tx_hash)
            except ValueError:
                problems["page_token"] = "not a token this service issued"
        await problems.check(context, "ListTransactionsRequest")
        rows = await store.list_transactions(self.deps.pool, request.purpose, after, size + 1)
        statuses = {
            "pending": pb.TRANSACTION_STATUS_PENDING,
            "succeeded": pb.TRANSACTION_STATUS_SUCCEEDED,
            "failed": pb.TRANSACTION_STATUS_FAILED,
        }
        answer = pb.ListTransactionsResponse()
        for r in rows[:size]:
            tx = answer.transactions.add(
                tx_hash=r["tx_hash"],
                purpose=r["purpose"],
                status=statuses[r["status"]],
                nonce=r["nonce"],
                gas_limit=r["gas_limit"],
                gas_used=r["gas_used"],
                block_number=r["block_number"],
                value_neuron=str(int(r["value_neuron"])),
                error=r["error"],
                request_id=r["request_id"],
            )
            tx.created_at.FromDatetime(r["created_at"])
        if len(rows) > size:
            last = rows[size - 1]
            answer.next_page_token = f"{last['created_at'].isoformat()}|{last['tx_hash']}"
        return answer


async def _check_signature(
    http: httpx.AsyncClient,
    url: str,
    model: str,
    request: pb.VerifyResponseRequest,
    expected: str,
) -> pb.VerifyResponseResponse:
    from services.broker.errors import BrokerError

    answer = pb.VerifyResponseResponse(expected_signer=expected)
    try:
        reply = await http.get(
            f"{url.rstrip('/')}/v1/proxy/signature/{request.chat_id}", params={"model": model}
        )
    except httpx.HTTPError as error:
        from zerog_chain import ChainUnavailable

        raise ChainUnavailable(f"provider unreachable: {type(error).__name__}") from None
    if reply.status_code != 200:
        answer.reason = "SIGNATURE_NOT_FOUND"
        return answer
    try:
        body = reply.json()
        text, signature = str(body["text"]), str(body["signature"])
    except (ValueError, KeyError, TypeError):
        answer.reason = "MALFORMED_SIGNATURE"
        return answer
    answer.text = text
    answer.signing_address = str(body.get("signing_address", ""))
    req_hash = request.request_sha256 or (
        hashlib.sha256(request.request_body).hexdigest() if request.request_body else ""
    )
    res_hash = request.response_sha256 or (
        hashlib.sha256(request.response_body).hexdigest() if request.response_body else ""
    )
    signed_req, _, signed_res = text.partition(":")
    if (req_hash and req_hash != signed_req) or (res_hash and res_hash != signed_res):
        answer.reason = "TEXT_MISMATCH"
        return answer
    try:
        valid = verify_tee_response(text, signature, expected)
    except (BrokerError, ValueError, Exception):
        answer.reason = "MALFORMED_SIGNATURE"
        return answer
    answer.valid = valid
    answer.reason = "" if valid else "SIGNATURE_MISMATCH"
    return answer
