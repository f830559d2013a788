"""RPCs of provider discovery (list with filters and pages, get one) and acknowledgement of a
provider's TEE signer before first use."""

from __future__ import annotations

from services.broker import convert
from services.broker.amounts import A0GI
from services.broker.deps import Deps, once, send_or_resume
from services.broker.errors import ProviderNotFound
from services.broker.store import accounts
from services.broker.validate import Problems, provider_of
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_grpc import Rpcs
from zerog_grpc.handlers import Context


class ProviderRpcs(Rpcs[Deps]):
    """Discovery and acknowledgement."""

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Context
    ) -> pb.ListProvidersResponse:
        problems = Problems()
        max_in = problems.neuron(
            "max_input_price_neuron", request.max_input_price_neuron, optional=True
        )
        max_out = problems.neuron(
            "max_output_price_neuron", request.max_output_price_neuron, optional=True
        )
        size = problems.page_size(request.page_size)
        start = problems.offset(request.page_token)
        problems.check(request)
        services = await self.deps.providers.all()
        official = self.deps.official
        chosen = [
            s
            for s in services
            if (not request.model or s.model == request.model)
            and (not request.verifiable_only or s.verifiability == "TeeML")
            and (not request.official_only or s.provider.lower() in official)
            and (max_in < 0 or s.input_price <= max_in)
            and (max_out < 0 or s.output_price <= max_out)
        ]
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        refreshed = self.deps.providers.refreshed_at
        answer = pb.ListProvidersResponse(
            providers=[convert.provider(s, official) for s in page],
            next_page_token=str(start + size) if more else "",
        )
        if refreshed is not None:
            answer.refreshed_at.FromDatetime(refreshed)
        return answer

    async def GetProvider(
        self, request: pb.GetProviderRequest, context: Context
    ) -> pb.GetProviderResponse:
        provider = provider_of(request)
        service = await self.deps.compute.get_service(provider)
        if service is None:
            raise ProviderNotFound(provider)
        account = await self.deps.compute.get_account(provider)
        return pb.GetProviderResponse(
            provider=convert.provider(service, self.deps.official),
            sub_account=convert.sub_account(account) if account else None,
        )

    async def AcknowledgeProvider(
        self, request: pb.AcknowledgeProviderRequest, context: Context
    ) -> pb.AcknowledgeProviderResponse:
        provider = provider_of(request, Problems.of_mutation(request.request_id))

        async def work() -> pb.AcknowledgeProviderResponse:
            compute = self.deps.compute
            # The chain as it is now: the signer recorded below is the one verification trusts.
            found = await compute.get_service(provider)
            if found is None:
                raise ProviderNotFound(provider)
            service = found
            receipts = []
            account = await compute.get_account(provider)
            if account is None:
                # The SDK's rule: a new sub-account needs a first transfer of 1 A0GI.
                r = await send_or_resume(
                    self.deps,
                    "TRANSFER",
                    request.request_id,
                    lambda tx_id: compute.transfer(provider, A0GI, request_id=tx_id),
                )
                receipts.append(convert.receipt(r))
                account = await compute.get_account(provider)
            if account is None or not account.acknowledged:
                r = await send_or_resume(
                    self.deps,
                    "ACKNOWLEDGE",
                    request.request_id,
                    lambda tx_id: compute.acknowledge(provider, request_id=tx_id),
                )
                receipts.append(convert.receipt(r))
                account = await compute.get_account(provider)
            await accounts.record_acknowledgement(
                self.deps.pool,
                service.provider,
                service.tee_signer,
                convert.tee_signer(service),
            )
            return pb.AcknowledgeProviderResponse(
                receipts=receipts, sub_account=convert.sub_account(account) if account else None
            )

        return await once(
            self.deps, request, pb.AcknowledgeProviderResponse, work, subject="ledger", shield=True
        )
