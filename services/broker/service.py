"""BrokerService: the wallet, its ledger and providers (credentials, accounts and storage are
in the mixins it inherits)."""

from __future__ import annotations

from eth_utils.address import to_checksum_address

from services.broker import convert
from services.broker.amounts import a0gi
from services.broker.convert import Problems
from services.broker.deps import Deps, once, send_or_resume
from services.broker.errors import Context, ProviderNotFound, fail
from services.broker.rpc_accounts import AccountRpcs
from services.broker.rpc_credentials import CredentialRpcs
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog_chain import AccountInfo

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BrokerService"].full_name
_NETWORKS = {
    "devnet": pb.NETWORK_DEVNET,
    "testnet": pb.NETWORK_TESTNET,
    "mainnet": pb.NETWORK_MAINNET,
}
_MAX_PAGE = 200


class BrokerService(CredentialRpcs, AccountRpcs, broker_service_pb2_grpc.BrokerServiceServicer):
    """The broker's gRPC servicer."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    async def _ledger(self) -> pb.Ledger | None:
        compute = self.deps.compute
        info = await compute.get_ledger()
        if info is None:
            return None
        accounts: list[AccountInfo] = []
        for provider in await compute.ledger_providers():
            account = await compute.get_account(provider)
            if account is not None:
                accounts.append(account)
        return convert.ledger(info, accounts)

    async def GetWallet(
        self, request: pb.GetWalletRequest, context: Context
    ) -> pb.GetWalletResponse:
        try:
            address = to_checksum_address(self.deps.wallet.address)
            balance = int(await self.deps.compute.sender.w3.eth.get_balance(address))
        except Exception as error:
            await fail(context, _unavailable(error))
        return pb.GetWalletResponse(
            address=self.deps.wallet.address,
            balance_neuron=str(balance),
            balance_a0gi=a0gi(balance),
            chain_id=self.deps.profile.chain_id,
            network=_NETWORKS[self.deps.profile.name],
        )

    async def CreateLedger(
        self, request: pb.CreateLedgerRequest, context: Context
    ) -> pb.CreateLedgerResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        amount = problems.neuron(
            request.initial_deposit_neuron, "initial_deposit_neuron", minimum=1
        )
        await problems.check(context, "CreateLedgerRequest")

        async def work() -> pb.CreateLedgerResponse:
            r = await send_or_resume(
                self.deps,
                "CREATE_LEDGER",
                request.request_id,
                lambda: self.deps.compute.add_ledger(amount, request_id=request.request_id),
            )
            return pb.CreateLedgerResponse(receipt=convert.receipt(r), ledger=await self._ledger())

        return await once(
            self.deps,
            context,
            "CreateLedger",
            request,
            request.request_id,
            pb.CreateLedgerResponse,
            work,
            "ledger",
        )

    async def Deposit(self, request: pb.DepositRequest, context: Context) -> pb.DepositResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        amount = problems.neuron(request.amount_neuron, "amount_neuron", minimum=1)
        await problems.check(context, "DepositRequest")

        async def work() -> pb.DepositResponse:
            r = await send_or_resume(
                self.deps,
                "DEPOSIT",
                request.request_id,
                lambda: self.deps.compute.deposit(amount, request_id=request.request_id),
            )
            return pb.DepositResponse(receipt=convert.receipt(r), ledger=await self._ledger())

        return await once(
            self.deps,
            context,
            "Deposit",
            request,
            request.request_id,
            pb.DepositResponse,
            work,
            "wallet",
        )

    async def GetLedger(
        self, request: pb.GetLedgerRequest, context: Context
    ) -> pb.GetLedgerResponse:
        try:
            ledger = await self._ledger()
        except Exception as error:
            await fail(context, error)
        if ledger is None:
            from zerog_chain import ContractReverted

            await fail(context, ContractReverted("LedgerNotExists", (self.deps.wallet.address,)))
        return pb.GetLedgerResponse(ledger=ledger)

    async def TransferToProvider(
        self, request: pb.TransferToProviderRequest, context: Context
    ) -> pb.TransferToProviderResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        amount = problems.neuron(request.amount_neuron, "amount_neuron", minimum=1)
        await problems.check(context, "TransferToProviderRequest")

        async def work() -> pb.TransferToProviderResponse:
            await self.deps.providers.get(provider)
            r = await send_or_resume(
                self.deps,
                "TRANSFER",
                request.request_id,
                lambda: self.deps.compute.transfer(provider, amount, request_id=request.request_id),
            )
            account = await self.deps.compute.get_account(provider)
            return pb.TransferToProviderResponse(
                receipt=convert.receipt(r),
                sub_account=convert.sub_account(account) if account else None,
            )

        return await once(
            self.deps,
            context,
            "TransferToProvider",
            request,
            request.request_id,
            pb.TransferToProviderResponse,
            work,
            "ledger",
        )

    async def RetrieveFunds(
        self, request: pb.RetrieveFundsRequest, context: Context
    ) -> pb.RetrieveFundsResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        for i, p in enumerate(request.providers):
            problems.address(p, f"providers[{i}]")
        await problems.check(context, "RetrieveFundsRequest")

        async def work() -> pb.RetrieveFundsResponse:
            providers = list(request.providers) or await self.deps.compute.ledger_providers()
            r = await send_or_resume(
                self.deps,
                "RETRIEVE",
                request.request_id,
                lambda: self.deps.compute.retrieve(providers, request_id=request.request_id),
            )
            return pb.RetrieveFundsResponse(receipt=convert.receipt(r), ledger=await self._ledger())

        return await once(
            self.deps,
            context,
            "RetrieveFunds",
            request,
            request.request_id,
            pb.RetrieveFundsResponse,
            work,
            "ledger",
        )

    async def Refund(self, request: pb.RefundRequest, context: Context) -> pb.RefundResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        amount = problems.neuron(request.amount_neuron, "amount_neuron", minimum=1)
        await problems.check(context, "RefundRequest")

        async def work() -> pb.RefundResponse:
            r = await send_or_resume(
                self.deps,
                "REFUND",
                request.request_id,
                lambda: self.deps.compute.refund(amount, request_id=request.request_id),
            )
            return pb.RefundResponse(receipt=convert.receipt(r), ledger=await self._ledger())

        return await once(
            self.deps,
            context,
            "Refund",
            request,
            request.request_id,
            pb.RefundResponse,
            work,
            "ledger",
        )

    async def ListProviders(
        self, request: pb.ListProvidersRequest, context: Context
    ) -> pb.ListProvidersResponse:
        problems = Problems()
        max_in = problems.neuron(
            request.max_input_price_neuron, "max_input_price_neuron", optional=True
        )
        max_out = problems.neuron(
            request.max_output_price_neuron, "max_output_price_neuron", optional=True
        )
        size = request.page_size or 50
        if not 1 <= size <= _MAX_PAGE:
            problems["page_size"] = f"must be between 1 and {_MAX_PAGE}"
        start = 0
        if request.page_token:
            if not request.page_token.isdigit():
                problems["page_token"] = "not a token this service issued"
            else:
                start = int(request.page_token)
        await problems.check(context, "ListProvidersRequest")
        try:
            services = await self.deps.providers.all()
        except Exception as error:
            await fail(context, error)
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
        problems = Problems()
        provider = problems.address(request.provider, "provider")
        await problems.check(context, "GetProviderRequest")
        try:
            service = await self.deps.compute.get_service(provider)
            if service is None:
                raise ProviderNotFound(provider)
            account = await self.deps.compute.get_account(provider)
        except Exception as error:
            await fail(context, error)
        return pb.GetProviderResponse(
            provider=convert.provider(service, self.deps.official),
            sub_account=convert.sub_account(account) if account else None,
        )

    async def AcknowledgeProvider(
        self, request: pb.AcknowledgeProviderRequest, context: Context
    ) -> pb.AcknowledgeProviderResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        provider = problems.address(request.provider, "provider")
        await problems.check(context, "AcknowledgeProviderRequest")

        async def work() -> pb.AcknowledgeProviderResponse:
            from services.broker import store
            from services.broker.amounts import A0GI

            compute = self.deps.compute
            service = await self.deps.providers.get(provider)
            receipts = []
            account = await compute.get_account(provider)
            if account is None:
                # The SDK's rule: a new sub-account needs a first transfer of 1 A0GI.
                r = await send_or_resume(
                    self.deps,
                    "TRANSFER",
                    request.request_id,
                    lambda: compute.transfer(provider, A0GI, request_id=request.request_id),
                )
                receipts.append(convert.receipt(r))
                account = await compute.get_account(provider)
            if account is None or not account.acknowledged:
                r = await send_or_resume(
                    self.deps,
                    "ACKNOWLEDGE",
                    request.request_id,
                    lambda: compute.acknowledge(provider, request_id=request.request_id),
                )
                receipts.append(convert.receipt(r))
                account = await compute.get_account(provider)
            await store.record_acknowledgement(self.deps.pool, service.provider, service.tee_signer)
            return pb.AcknowledgeProviderResponse(
                receipts=receipts, sub_account=convert.sub_account(account) if account else None
            )

        return await once(
            self.deps,
            context,
            "AcknowledgeProvider",
            request,
            request.request_id,
            pb.AcknowledgeProviderResponse,
            work,
            "ledger",
        )


def _unavailable(error: Exception) -> Exception:
    from zerog_chain import ChainUnavailable

    return ChainUnavailable(f"chain RPC failed: {type(error).__name__}")
