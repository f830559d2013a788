"""RPCs of the platform wallet and its ledger: wallet info, create, deposit, balance, transfer
to a provider, retrieve from providers, refund to the wallet."""

from __future__ import annotations

from eth_utils.address import to_checksum_address

from services.broker import convert
from services.broker.amounts import a0gi
from services.broker.convert import Problems
from services.broker.deps import Deps, once, send_or_resume
from services.broker.errors import Context, fail
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import AccountInfo, ChainUnavailable, ContractReverted

_NETWORKS = {
    "devnet": pb.NETWORK_DEVNET,
    "testnet": pb.NETWORK_TESTNET,
    "mainnet": pb.NETWORK_MAINNET,
}


class LedgerRpcs:
    """The wallet and its ledger."""

    deps: Deps

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
                lambda tx_id: self.deps.compute.add_ledger(amount, request_id=tx_id),
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
                lambda tx_id: self.deps.compute.deposit(amount, request_id=tx_id),
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
                lambda tx_id: self.deps.compute.transfer(provider, amount, request_id=tx_id),
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
            try:
                r = await send_or_resume(
                    self.deps,
                    "RETRIEVE",
                    request.request_id,
                    lambda tx_id: self.deps.compute.retrieve(providers, request_id=tx_id),
                )
            finally:
                # A refund request lowers what the providers can charge: check them again.
                self.deps.topups.headroom.forget()
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
                lambda tx_id: self.deps.compute.refund(amount, request_id=tx_id),
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


def _unavailable(error: Exception) -> Exception:
    return ChainUnavailable(f"chain RPC failed: {type(error).__name__}")
