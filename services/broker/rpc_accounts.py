"""Wallet-signed user flows (InitAccount, Fund, GetUserBalance) and SubmitStorage."""

from __future__ import annotations

import asyncpg

from services.broker import convert
from services.broker.amounts import a0gi
from services.broker.deps import Deps, asked, once, send_or_resume
from services.broker.errors import AccountNotFound, FeeAboveMaximum, IntentRefused
from services.broker.store import accounts
from services.broker.validate import Problems
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Rpcs
from zerog_grpc.handlers import Context
from zerog_grpc.tracing import annotate
from zerog_signing import (
    IntentAction,
    SignatureRejected,
    SigningError,
    VerifiedIntent,
    WalletIntent,
)
from zerog_storage import Submission, SubmissionData, SubmissionNode, check_submission

_REASONS = {
    "BadSignature": "BAD_SIGNATURE",
    "AddressMismatch": "ADDRESS_MISMATCH",
    "StaleTimestamp": "STALE_TIMESTAMP",
    "FutureTimestamp": "FUTURE_TIMESTAMP",
    "ReplayedNonce": "REPLAYED_NONCE",
    "MalformedMessage": "MALFORMED_INTENT",
    "WrongAction": "WRONG_ACTION",
}


def _account(row: asyncpg.Record) -> pb.UserAccount:
    account = pb.UserAccount(
        address=row["address"],
        funded_neuron=str(int(row["funded_neuron"])),
        funded_a0gi=a0gi(int(row["funded_neuron"])),
    )
    account.created_at.FromDatetime(row["created_at"])
    return account


class AccountRpcs(Rpcs[Deps]):
    """User flows and storage payments."""

    async def _verify(self, signed: pb.SignedIntent, action: IntentAction) -> VerifiedIntent:
        try:
            if signed.WhichOneof("form") == "typed":
                t = signed.typed
                intent = WalletIntent(
                    IntentAction(t.action)
                    if t.action in IntentAction.__members__.values()
                    else t.action,  # type: ignore[arg-type]
                    t.address,
                    t.timestamp_ms,
                    int(t.amount_neuron) if t.amount_neuron.isdigit() else -1,
                    t.nonce,
                )
                return await self.deps.intents.verify_typed(
                    intent, signed.signature, expected_action=action
                )
            return await self.deps.intents.verify_message(
                signed.message, signed.signature, expected_action=action
            )
        except (SignatureRejected, SigningError) as error:
            reason = _REASONS.get(type(error).__name__, "BAD_SIGNATURE")
            raise IntentRefused(reason, f"intent refused: {error}") from None

    async def InitAccount(
        self, request: pb.InitAccountRequest, context: Context
    ) -> pb.InitAccountResponse:
        Problems.of_mutation(request.request_id).check(request)
        deps = self.deps

        async def work(conn: Connection) -> pb.InitAccountResponse:
            verified = await self._verify(request.intent, IntentAction.INITIALIZE)
            row, created = await accounts.open_account(conn, verified.address)
            return pb.InitAccountResponse(
                account=_account(row), created=created, broker_address=deps.wallet.address
            )

        return await deps.once.run_in_transaction(asked(request), pb.InitAccountResponse, work)

    async def Fund(self, request: pb.FundRequest, context: Context) -> pb.FundResponse:
        Problems.of_mutation(request.request_id).check(request)
        deps = self.deps

        async def work() -> pb.FundResponse:
            verified = await self._verify(request.intent, IntentAction.FUND)
            if await accounts.get_account(deps.pool, verified.address) is None:
                raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
            amount = verified.intent.amount_neuron
            r = await send_or_resume(
                deps,
                "FUND_USER",
                request.request_id,
                lambda tx_id: deps.compute.deposit(amount, request_id=tx_id, purpose="FUND_USER"),
            )
            row = await accounts.credit_account(deps.pool, verified.address, amount)
            assert row is not None
            return pb.FundResponse(
                account=_account(row), receipt=convert.receipt(r), amount_neuron=str(amount)
            )

        return await once(deps, request, pb.FundResponse, work, shield=True)

    async def GetUserBalance(
        self, request: pb.GetUserBalanceRequest, context: Context
    ) -> pb.GetUserBalanceResponse:
        verified = await self._verify(request.intent, IntentAction.BALANCE)
        row = await accounts.get_account(self.deps.pool, verified.address)
        if row is None:
            raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
        ledger = await self.deps.compute.get_ledger()
        return pb.GetUserBalanceResponse(
            account=_account(row), ledger_available_neuron=str(ledger.available if ledger else 0)
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
