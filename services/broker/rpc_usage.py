"""RPCs after a call: response verification, usage recording (with auto top-up), the settlement
report and the transaction log."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime

from services.broker.deps import Deps, once
from services.broker.errors import (
    ERRORS,
    ProviderNotFound,
    ProviderNotVerifiable,
    TopUpAboveCap,
)
from services.broker.rpc_credentials import top_up_message
from services.broker.store import accounts, transactions, usage
from services.broker.topup import TopUpResult
from services.broker.validate import Problems
from services.broker.verification import check_signature
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import ChainError
from zerog_db import Alongside
from zerog_grpc import Rpcs, current_caller
from zerog_grpc.errormap import each_item
from zerog_grpc.handlers import Context
from zerog_grpc.tracing import annotate

_SHA256 = re.compile(r"[0-9a-f]{64}")
# The most records one RecordUsageBatch may carry.
MAX_BATCH = 500


class UsageRpcs(Rpcs[Deps]):
    """Verification, usage (one record or a batch), settlement, transactions."""

    async def VerifyResponse(
        self, request: pb.VerifyResponseRequest, context: Context
    ) -> pb.VerifyResponseResponse:
        problems = Problems.of_mutation(request.request_id)
        provider = problems.address("provider", request.provider)
        if not request.chat_id or "/" in request.chat_id:
            problems.add("chat_id", "required, without '/'")
        for name in ("request_sha256", "response_sha256"):
            value = getattr(request, name)
            if value and not _SHA256.fullmatch(value):
                problems.add(name, "must be 64 lowercase hex digits")
        problems.check(request)
        deps = self.deps

        async def work() -> pb.VerifyResponseResponse:
            # The chain as it is now (not the cache): a signer swapped or disowned since is seen.
            found, acknowledged = await asyncio.gather(
                deps.compute.get_service(provider),
                accounts.get_acknowledgement(deps.pool, provider),
            )
            if found is None:
                raise ProviderNotFound(provider)
            if found.verifiability != "TeeML":
                raise ProviderNotVerifiable(f"provider {provider} is not a TeeML service")
            checked[:] = [found.provider]
            return await check_signature(deps.http, found, request, acknowledged)

        def record(answer: pb.VerifyResponseResponse) -> Alongside:
            # Written in the statement that stores the answer: one round trip less.
            return usage.verification_insert(
                current_caller().service,
                request.request_id,
                checked[0],
                request.chat_id,
                answer.valid,
                answer.reason,
                answer.signing_address,
            )

        checked: list[str] = []
        return await once(
            deps, request, pb.VerifyResponseResponse, work, subject=provider, alongside=record
        )

    async def RecordUsage(
        self, request: pb.RecordUsageRequest, context: Context
    ) -> pb.RecordUsageResponse:
        return await self._record(request)

    async def RecordUsageBatch(
        self, request: pb.RecordUsageBatchRequest, context: Context
    ) -> pb.RecordUsageBatchResponse:
        problems = Problems()
        problems.within("records", len(request.records), 1, MAX_BATCH)
        problems.check(request)
        results = await each_item(
            request.records, self._record, ERRORS, pb.RecordUsageResult, "recorded"
        )
        return pb.RecordUsageBatchResponse(results=results)

    async def _record(self, request: pb.RecordUsageRequest) -> pb.RecordUsageResponse:
        problems = Problems.of_mutation(request.request_id)
        provider = problems.address("provider", request.provider)
        fee = problems.neuron("fee_neuron", request.fee_neuron, optional=True)
        problems.check(request)
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
            annotate(
                {
                    "zerog.provider": service.provider,
                    "zerog.usage.input_tokens": request.input_tokens,
                    "zerog.usage.output_tokens": request.output_tokens,
                    "zerog.fee_neuron": str(cost),
                }
            )
            this_fee, total = await usage.record_usage(
                deps.pool,
                current_caller().service,
                request.request_id,
                service.provider,
                request.user,
                request.chat_id,
                request.input_tokens,
                request.output_tokens,
                cost,
            )
            deps.topups.headroom.spend(service.provider, this_fee)
            try:
                top_up = None
                if deps.topups.fast(service.provider) is None:
                    top_up = await deps.topups.ensure(service.provider)
            except (ChainError, TopUpAboveCap) as error:
                # The usage stands; the top-up's failure is reported with it.
                top_up = TopUpResult(0, None, getattr(error, "name", type(error).__name__))
            return pb.RecordUsageResponse(
                fee_neuron=str(this_fee),
                recorded_total_neuron=str(total),
                top_up=top_up_message(top_up),
            )

        return await once(
            deps, request, pb.RecordUsageResponse, work, subject=provider, shield=True
        )

    async def GetSettlementReport(
        self, request: pb.GetSettlementReportRequest, context: Context
    ) -> pb.GetSettlementReportResponse:
        problems = Problems()
        if request.provider:
            problems.address("provider", request.provider)
        problems.check(request)
        block = await self.deps.settlement.sync()
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
        size = problems.page_size(request.page_size)
        after = None
        if request.page_token:
            stamp, _, tx_hash = request.page_token.partition("|")
            try:
                after = (datetime.fromisoformat(stamp), tx_hash)
            except ValueError:
                problems.add("page_token", "not a token this service issued")
        problems.check(request)
        rows = await transactions.list_transactions(
            self.deps.pool, request.purpose, after, size + 1
        )
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
                # Recorded as "<caller> <request_id>" (deps.transaction_id): the
                # request_id as its caller sent it.
                request_id=r["request_id"].rpartition(" ")[2],
            )
            tx.created_at.FromDatetime(r["created_at"])
        if len(rows) > size:
            last = rows[size - 1]
            answer.next_page_token = f"{last['created_at'].isoformat()}|{last['tx_hash']}"
        return answer
