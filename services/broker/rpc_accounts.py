"""Wallet-signed user flows (InitAccount, Fund, GetUserBalance) and SubmitStorage."""

from __future__ import annotations

import asyncpg

from services.broker import convert
from services.broker.amounts import a0gi
from services.broker.convert import Problems
from services.broker.deps import Deps, once, send_or_resume
from services.broker.errors import AccountNotFound, Context, FeeAboveMaximum, IntentRefused, fail
from zerog.broker.v1 import broker_service_pb2 as pb
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


class AccountRpcs:
    """User flows and storage payments."""

    deps: Deps

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
        problems = Problems()
        problems.request_id(request.request_id)
        await problems.check(context, "InitAccountRequest")
        deps = self.deps

        async def work() -> pb.InitAccountResponse:
            verified = await self._verify(request.intent, IntentAction.INITIALIZE)
            row = await deps.pool.fetchrow(
                """
                INSERT INTO user_accounts (address) VALUES ($1) ON CONFLICT DO NOTHING
                RETURNING *
                """,
                verified.address,
            )
            created = row is not None
            if row is None:
                row = await deps.pool.fetchrow(
                    "SELECT * FROM user_accounts WHERE address = $1", verified.address
                )
            assert row is not None
            return pb.InitAccountResponse(
                account=_account(row), created=created, broker_address=deps.wallet.address
            )

        return await once(
            deps, context, "InitAccount", request, request.request_id, pb.InitAccountResponse, work
        )

    async def Fund(self, request: pb.FundRequest, context: Context) -> pb.FundResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        await problems.check(context, "FundRequest")
        deps = self.deps

        async def work() -> pb.FundResponse:
            verified = await self._verify(request.intent, IntentAction.FUND)
            exists = await deps.pool.fetchval(
                "SELECT 1 FROM user_accounts WHERE address = $1", verified.address
            )
            if exists is None:
                raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
            amount = verified.intent.amount_neuron
            r = await send_or_resume(
                deps,
                "FUND_USER",
                request.request_id,
                lambda tx_id: deps.compute.deposit(amount, request_id=tx_id, purpose="FUND_USER"),
            )
            row = await deps.pool.fetchrow(
                """
                UPDATE user_accounts SET funded_neuron = funded_neuron + $2 WHERE address = $1
                RETURNING *
                """,
                verified.address,
                amount,
            )
            assert row is not None
            return pb.FundResponse(
                account=_account(row), receipt=convert.receipt(r), amount_neuron=str(amount)
            )

        return await once(deps, context, "Fund", request, request.request_id, pb.FundResponse, work)

    async def GetUserBalance(
        self, request: pb.GetUserBalanceRequest, context: Context
    ) -> pb.GetUserBalanceResponse:
        deps = self.deps
        try:
            verified = await self._verify(request.intent, IntentAction.BALANCE)
            row = await deps.pool.fetchrow(
                "SELECT * FROM user_accounts WHERE address = $1", verified.address
            )
            if row is None:
                raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
            ledger = await deps.compute.get_ledger()
        except Exception as error:
            await fail(context, error)
        return pb.GetUserBalanceResponse(
            account=_account(row), ledger_available_neuron=str(ledger.available if ledger else 0)
        )

    async def SubmitStorage(
        self, request: pb.SubmitStorageRequest, context: Context
    ) -> pb.SubmitStorageResponse:
        problems = Problems()
        problems.request_id(request.request_id)
        max_fee = problems.neuron(request.max_fee_neuron, "max_fee_neuron", optional=True)
        if not 1 <= len(request.submissions) <= 20:
            problems["submissions"] = "1 to 20 submissions"
        submitter = self.deps.wallet.address
        datas: list[SubmissionData] = []
        for i, s in enumerate(request.submissions):
            if any(len(n.root) != 32 for n in s.nodes):
                problems[f"submissions[{i}].nodes"] = "every root must be 32 bytes"
                continue
            data = SubmissionData(
                s.length, bytes(s.tags), tuple(SubmissionNode(n.root, n.height) for n in s.nodes)
            )
            try:
                check_submission(Submission(data, submitter))
            except Exception as error:
                problems[f"submissions[{i}]"] = str(error)
            datas.append(data)
        await problems.check(context, "SubmitStorageRequest")
        deps = self.deps

        async def work() -> pb.SubmitStorageResponse:
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

        from services.broker.convert import fingerprint
        from services.broker.operations import run_once

        try:
            answer, replayed = await run_once(
                deps.pool,
                request.request_id,
                "SubmitStorage",
                fingerprint(request),
                pb.SubmitStorageResponse,
                work,
            )
        except Exception as error:
            await fail(context, error, "wallet")
        answer.replayed = replayed
        return answer
