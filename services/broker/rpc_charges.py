"""Paid calls of wallet users: AuthorizeUser checks the signed intent and the balance before the
call, ChargeUser debits its fee after it (once per usage id) and spends the intent's nonce in
the same transaction."""

from __future__ import annotations

from services.broker.deps import Deps, asked
from services.broker.errors import AccountNotFound, InsufficientBalance
from services.broker.rpc_accounts import account_message
from services.broker.store import accounts
from services.broker.validate import Problems
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_db import Connection
from zerog_grpc import Rpcs, current_caller
from zerog_grpc.handlers import Context
from zerog_signing import IntentAction


class ChargeRpcs(Rpcs[Deps]):
    """What a wallet user's paid call asks of the broker."""

    async def AuthorizeUser(
        self, request: pb.AuthorizeUserRequest, context: Context
    ) -> pb.AuthorizeUserResponse:
        problems = Problems()
        required = problems.neuron(
            "min_balance_neuron", request.min_balance_neuron, minimum=1, optional=True
        )
        problems.check(request)
        required = max(required, 1)
        verified = await self.deps.intents.check(request.intent, IntentAction.ANALYZE, spend=False)
        row = await accounts.get_account(self.deps.pool, verified.address)
        if row is None:
            raise AccountNotFound(f"no account for {verified.address}; call InitAccount")
        balance = int(row["funded_neuron"]) - int(row["spent_neuron"])
        if balance < required:
            raise InsufficientBalance(verified.address, balance, required)
        return pb.AuthorizeUserResponse(account=account_message(row))

    async def ChargeUser(
        self, request: pb.ChargeUserRequest, context: Context
    ) -> pb.ChargeUserResponse:
        problems = Problems.of_mutation(request.request_id)
        fee = problems.neuron("fee_neuron", request.fee_neuron)
        problems.request_id("usage_id", request.usage_id)
        problems.check(request)
        deps = self.deps

        async def work(conn: Connection) -> pb.ChargeUserResponse:
            verified = await deps.intents.check(request.intent, IntentAction.ANALYZE, spend=False)
            await deps.intents.spend(conn, verified)
            row, charged = await accounts.charge(
                conn,
                verified.address,
                fee,
                current_caller().service,
                request.request_id,
                request.usage_id,
            )
            return pb.ChargeUserResponse(
                account=account_message(row),
                fee_neuron=str(fee),
                charged_neuron=str(charged),
                unpaid_neuron=str(fee - charged),
            )

        return await deps.once.run_in_transaction(asked(request), pb.ChargeUserResponse, work)
