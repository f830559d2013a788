"""RPCs of the platform wallet and its ledger: wallet info, create, deposit, balance, transfer
to a provider, retrieve from providers, refund to the wallet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from eth_utils.address import to_checksum_address

from services.broker import convert
from services.broker.amounts import a0gi
from services.broker.deps import Deps, once, send_or_resume
from services.broker.validate import Problems
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import AccountInfo, ChainUnavailable, ContractReverted, Receipt
from zerog_grpc import Rpcs
from zerog_grpc.handlers import Context

_NETWORKS = {
    "devnet": pb.NETWORK_DEVNET,
    "testnet": pb.NETWORK_TESTNET,
    "mainnet": pb.NETWORK_MAINNET,
}


L = TypeVar(
    "L", pb.CreateLedgerResponse, pb.DepositResponse, pb.RetrieveFundsResponse, pb.RefundResponse
)
LedgerMove = pb.CreateLedgerRequest | pb.DepositRequest | pb.RetrieveFundsRequest | pb.RefundRequest
# Per request: the purpose its transaction is recorded under, and what a refusal is about.
_MOVES: dict[type[LedgerMove], tuple[str, str]] = {
    pb.CreateLedgerRequest: ("CREATE_LEDGER", "ledger"),
    pb.DepositRequest: ("DEPOSIT", "wallet"),
    pb.RetrieveFundsRequest: ("RETRIEVE", "ledger"),
    pb.RefundRequest: ("REFUND", "ledger"),
}


def _amount(request: pb.CreateLedgerRequest | pb.DepositRequest | pb.RefundRequest) -> int:
    """The amount the request moves (at least 1 neuron); InvalidRequest if a field is bad."""
    problems = Problems.of_mutation(request.request_id)
    if isinstance(request, pb.CreateLedgerRequest):
        amount = problems.neuron(
            "initial_deposit_neuron", request.initial_deposit_neuron, minimum=1
        )
    else:
        amount = problems.neuron("amount_neuron", request.amount_neuron, minimum=1)
    problems.check(request)
    return amount


class LedgerRpcs(Rpcs[Deps]):
    """The wallet and its ledger."""

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

    async def _move(
        self, request: LedgerMove, response_type: type[L], send: Callable[[str], Awaitable[Receipt]]
    ) -> L:
        """One ledger transaction per request_id; the answer: its receipt and the ledger after."""
        purpose, subject = _MOVES[type(request)]

        async def work() -> L:
            try:
                r = await send_or_resume(self.deps, purpose, request.request_id, send)
            finally:
                if purpose == "RETRIEVE":
                    # A refund request lowers what the providers can charge: check them again.
                    self.deps.topups.headroom.forget()
            return response_type(receipt=convert.receipt(r), ledger=await self._ledger())

        return await once(self.deps, request, response_type, work, subject=subject, shield=True)

    async def GetWallet(
        self, request: pb.GetWalletRequest, context: Context
    ) -> pb.GetWalletResponse:
        try:
            address = to_checksum_address(self.deps.wallet.address)
            balance = int(await self.deps.compute.sender.w3.eth.get_balance(address))
        except Exception as error:  # whatever web3 raised: the chain did not answer
            raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None
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
        amount, pay = _amount(request), self.deps.compute.add_ledger
        return await self._move(
            request, pb.CreateLedgerResponse, lambda tx: pay(amount, request_id=tx)
        )

    async def Deposit(self, request: pb.DepositRequest, context: Context) -> pb.DepositResponse:
        amount, pay = _amount(request), self.deps.compute.deposit
        return await self._move(request, pb.DepositResponse, lambda tx: pay(amount, request_id=tx))

    async def GetLedger(
        self, request: pb.GetLedgerRequest, context: Context
    ) -> pb.GetLedgerResponse:
        ledger = await self._ledger()
        if ledger is None:
            raise ContractReverted("LedgerNotExists", (self.deps.wallet.address,))
        return pb.GetLedgerResponse(ledger=ledger)

    async def TransferToProvider(
        self, request: pb.TransferToProviderRequest, context: Context
    ) -> pb.TransferToProviderResponse:
        problems = Problems.of_mutation(request.request_id)
        provider = problems.address("provider", request.provider)
        amount = problems.neuron("amount_neuron", request.amount_neuron, minimum=1)
        problems.check(request)
        compute = self.deps.compute

        async def work() -> pb.TransferToProviderResponse:
            await self.deps.providers.get(provider)
            r = await send_or_resume(
                self.deps,
                "TRANSFER",
                request.request_id,
                lambda tx_id: compute.transfer(provider, amount, request_id=tx_id),
            )
            account = await compute.get_account(provider)
            return pb.TransferToProviderResponse(
                receipt=convert.receipt(r),
                sub_account=convert.sub_account(account) if account else None,
            )

        return await once(
            self.deps, request, pb.TransferToProviderResponse, work, subject="ledger", shield=True
        )

    async def RetrieveFunds(
        self, request: pb.RetrieveFundsRequest, context: Context
    ) -> pb.RetrieveFundsResponse:
        problems = Problems.of_mutation(request.request_id)
        for i, p in enumerate(request.providers):
            problems.address(f"providers[{i}]", p)
        problems.check(request)
        compute = self.deps.compute

        async def retrieve(tx_id: str) -> Receipt:
            providers = list(request.providers) or await compute.ledger_providers()
            return await compute.retrieve(providers, request_id=tx_id)

        return await self._move(request, pb.RetrieveFundsResponse, retrieve)

    async def Refund(self, request: pb.RefundRequest, context: Context) -> pb.RefundResponse:
        amount, pay = _amount(request), self.deps.compute.refund
        return await self._move(request, pb.RefundResponse, lambda tx: pay(amount, request_id=tx))
