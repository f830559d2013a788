"""Wallet-signed user flows (InitAccount, Fund from the user's own deposit, GetUserBalance) and
SubmitStorage."""

from __future__ import annotations

import asyncpg

from services.broker.amounts import a0gi
from services.broker.deposits import Deposit
from services.broker.deps import Deps, asked, once, send_or_resume
from services.broker.errors import AccountNotFound, FeeAboveMaximum
from services.broker.store import accounts
from services.broker.validate import Problems
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Rpcs, current_caller
from zerog_grpc.handlers import Context
from zerog_grpc.tracing import annotate
from zerog_signing import IntentAction, VerifiedIntent
from zerog_storage import Submission, SubmissionData, SubmissionNode, check_submission


def account_message(row: asyncpg.Record) -> pb.UserAccount:
    """A user account row as sent: funded, spent and what remains."""
    funded, spent = int(row["funded_neuron"]), int(row["spent_neuron"])
    account = pb.UserAccount(
        address=row["address"],
        funded_neuron=str(funded),
        funded_a0gi=a0gi(funded),
        spent_neuron=str(spent),
        balance_neuron=str(funded - spent),
        balance_a0gi=a0gi(funded - spent),
    )
    account.created_at.FromDatetime(row["created_at"])
    return account


class AccountRpcs(Rpcs[Deps]):
    """User flows and storage payments."""

    async def InitAccount(
        self, request: pb.InitAccountRequest, context: Context
    ) -> pb.InitAccountResponse:
        Problems.of_mutation(request.request_id).check(request)
        deps = self.deps

        async def work(conn: Connection) -> pb.InitAccountResponse:
            verified = await deps.intents.check(
                request.intent, IntentAction.INITIALIZE, spend=False
            )
            await deps.intents.spend(conn, verified)
            row, created = await accounts.open_account(conn, verified.address)
            return pb.InitAccountResponse(
                account=account_message(row), created=created, broker_address=deps.wallet.address
            )

        return await deps.once.run_in_transaction(asked(request), pb.InitAccountResponse, work)

    async def Fund(self, request: pb.FundRequest, context: Context) -> pb.FundResponse:
        problems = Problems.of_mutation(request.request_id)
        tx_hash = problems.tx_hash("tx_hash", request.tx_hash)
        problems.check(request)
        deps = self.deps

        async def check() -> tuple[VerifiedIntent, Deposit]:
            # Nothing is written before the deposit is confirmed: a refusal or a timeout
            # leaves the nonce unspent, so the retry under this request_id resumes.
            verified = await deps.intents.check(request.intent, IntentAction.FUND, spend=False)
            if await accounts.get_account(deps.pool, verified.address) is None:
                raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
            amount = verified.intent.amount_neuron
            return verified, await deps.deposits.confirmed(tx_hash, verified.address, amount)

        async def commit(
            conn: Connection, checked: tuple[VerifiedIntent, Deposit]
        ) -> pb.FundResponse:
            verified, deposit = checked
            await deps.intents.spend(conn, verified)
            row = await accounts.credit_deposit(
                conn, deposit, current_caller().service, request.request_id
            )
            annotate({"zerog.deposit.tx_hash": deposit.tx_hash})
            return pb.FundResponse(
                account=account_message(row),
                receipt=pb.Receipt(
                    tx_hash=deposit.tx_hash,
                    block_number=deposit.block_number,
                    gas_used=deposit.gas_used,
                    effective_gas_price_neuron=str(deposit.effective_gas_price),
                    purpose="USER_DEPOSIT",
                    status=pb.TRANSACTION_STATUS_SUCCEEDED,
                ),
                amount_neuron=str(deposit.amount),
                confirmations=deposit.confirmations,
            )

        return await deps.once.run_checked(asked(request), pb.FundResponse, check, commit)

    async def GetUserBalance(
        self, request: pb.GetUserBalanceRequest, context: Context
    ) -> pb.GetUserBalanceResponse:
        verified = await self.deps.intents.check(request.intent, IntentAction.BALANCE)
        row = await accounts.get_account(self.deps.pool, verified.address)
        if row is None:
            raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
        ledger = await self.deps.compute.get_ledger()
        return pb.GetUserBalanceResponse(
            account=account_message(row),
            ledger_available_neuron=str(ledger.available if ledger else 0),
        )

    async def SubmitStorage(
        self, request: pb.SubmitStorageRequest, context: Context
    ) -> pb.SubmitStorageResponse:
        problems = Problems.of_mutation(request.request_id)
        max_fee = problems.neuron("max_fee_neuron", request.max_fee_neuron, optional=True)
        if not 1 <= len(request.submissions) <= 20:
            problems.add("submissions", "1 to 20 submissions")
        submitter = self.deps.wallet.address
        datas: list[SubmissionData] = []
        for i, s in enumerate(request.submissions):
            if any(len(n.root) != 32 for n in s.nodes):
                problems.add(f"submissions[{i}].nodes", "every root must be 32 bytes")
                continue
            data = SubmissionData(
                s.length, bytes(s.tags), tuple(SubmissionNode(n.root, n.height) for n in s.nodes)
            )
            try:
                check_submission(Submission(data, submitter))
            except Exception as error:  # whatever the check names is the field's problem
                problems.add(f"submissions[{i}]", str(error))
            datas.append(data)
        problems.check(request)
        deps = self.deps
        ran = False

        async def work() -> pb.SubmitStorageResponse:
            nonlocal ran
            ran = True
            price = await deps.flow.price_per_sector()
            fee = deps.flow.fee(datas, price)
            annotate(
                {
                    "zerog.storage.merkle_roots": ["0x" + d.root.hex() for d in datas],
                    "zerog.fee_neuron": str(fee),
                }
            )
            if max_fee >= 0 and fee > max_fee:
                raise FeeAboveMaximum(fee, max_fee)
            r = await send_or_resume(
                deps,
                "STORAGE_SUBMIT",
                request.request_id,
                lambda tx_id: deps.flow.submit(datas, fee, request_id=tx_id),
            )
            return pb.SubmitStorageResponse(
                tx_hash=r.tx_hash,
                tx_seqs=deps.flow.tx_seqs(r),
                fee_neuron=str(fee),
                block_number=r.block_number,
                submitter=submitter,
                roots=[d.root for d in datas],
                flow_address=deps.flow.flow.address,
            )

        answer = await once(
            deps, request, pb.SubmitStorageResponse, work, subject="wallet", shield=True
        )
        answer.replayed = not ran
        return answer
