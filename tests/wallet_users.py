"""Wallet users of the dream-app flow for tests: a fresh funded key on the devnet, its signed
EIP-191 intents, its own transfers, and an account opened and funded through the broker."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint, TxParams, Wei

from devnet import A0GI
from devnet.deploy import Transactor
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog_signing import IntentAction, LocalSigner, WalletIntent, sign_intent_message

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub

MD = tuple[tuple[str, str], ...]


@dataclass
class WalletUser:
    """A user's key: signs intents and sends its own transactions."""

    signer: LocalSigner
    transactor: Transactor

    @classmethod
    def new(cls, w3: Web3, balance: int = 100 * A0GI) -> WalletUser:
        account = Account.create()
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(balance)])
        return cls(LocalSigner(bytes(account.key)), Transactor(w3, account))

    @property
    def address(self) -> str:
        return self.signer.address

    def intent(
        self, action: IntentAction, nonce: str, amount: int = 0, *, shift_ms: int = 0
    ) -> pb.SignedIntent:
        """A signed EIP-191 intent, timestamped now (+ `shift_ms`)."""
        when = int(time.time() * 1000) + shift_ms
        intent = WalletIntent(action, self.address, when, amount, nonce)
        message, signature = sign_intent_message(self.signer, intent)
        return pb.SignedIntent(message=message, signature=signature)

    def pay(self, to: str, amount: int) -> str:
        """Send `amount` neuron to `to` in a plain transfer; its hash once mined."""
        tx: TxParams = {"to": Web3.to_checksum_address(to), "value": Wei(amount)}
        receipt = self.transactor.send(tx)
        return receipt["transactionHash"].to_0x_hex()


async def open_account(stub: BrokerServiceAsyncStub, md: MD, user: WalletUser) -> None:
    await stub.InitAccount(
        pb.InitAccountRequest(
            request_id=f"init-{user.address}",
            intent=user.intent(IntentAction.INITIALIZE, "init"),
        ),
        metadata=md,
    )


async def deposit(
    stub: BrokerServiceAsyncStub, md: MD, user: WalletUser, to: str, amount: int, nonce: str
) -> pb.FundResponse:
    """The user pays `amount` to the deposit address `to` and Fund credits it."""
    tx_hash = user.pay(to, amount)
    return await stub.Fund(
        pb.FundRequest(
            request_id=f"fund-{nonce}",
            intent=user.intent(IntentAction.FUND, nonce, amount),
            tx_hash=tx_hash,
        ),
        metadata=md,
    )


async def funded_user(
    stub: BrokerServiceAsyncStub, md: MD, w3: Web3, to: str, amount: int
) -> WalletUser:
    """A new user whose account holds `amount`, paid by its own transfer to `to`."""
    user = WalletUser.new(w3)
    await open_account(stub, md, user)
    if amount:
        await deposit(stub, md, user, to, amount, f"first-{user.address}")
    return user


def dream_intent(user: WalletUser, nonce: str, *, shift_ms: int = 0) -> ipb.WalletIntent:
    """The user's signed `Analyze dream for {address} at {timestamp} nonce {nonce}`."""
    signed = user.intent(IntentAction.ANALYZE, nonce, shift_ms=shift_ms)
    return ipb.WalletIntent(message=signed.message, signature=signed.signature)
