"""Users of a devnet provider: a funded ledger, a sub-account, session tokens, calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess
from zerog_signing import LocalSigner, SignedSessionToken, issue_ephemeral_token

PROMPT = {"messages": [{"role": "user", "content": "what does the devnet provider say"}]}


@dataclass
class User:
    """A wallet with a ledger, as the SDK leaves it after acknowledging a provider."""

    account: LocalAccount
    signer: LocalSigner
    tx: Transactor
    ledger: Contract
    inference: Contract
    service_name: str

    @property
    def address(self) -> str:
        return self.account.address

    def sub_account(self, provider: str) -> Any:
        return self.inference.functions.getAccount(self.address, provider).call()

    def token(self, provider: str, **options: Any) -> SignedSessionToken:
        generation = self.sub_account(provider)[9]
        return issue_ephemeral_token(self.signer, provider, generation=generation, **options)

    def headers(self, provider: str) -> dict[str, str]:
        return {"Authorization": self.token(provider).authorization}

    def transfer(self, provider: str, amount: int) -> None:
        self.tx.transact(self.ledger.functions.transferFund(provider, self.service_name, amount))


def new_user(
    net: Devnet,
    w3: Web3,
    provider: str | None = None,
    *,
    deposit: int = 10 * A0GI,
    transfer: int = 3 * A0GI,
    acknowledge: bool = True,
) -> User:
    """A fresh funded wallet with a ledger; with `provider`, a sub-account holding `transfer`
    and (if `acknowledge`) the provider's TEE signer acknowledged."""
    account: LocalAccount = Account.create()
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)])
    contracts = net.contracts(w3)
    user = User(
        account=account,
        signer=LocalSigner.from_hex(account.key.hex()),
        tx=Transactor(w3, account),
        ledger=contracts.ledger,
        inference=contracts.inference,
        service_name=net.state.inference_service_name,
    )
    user.tx.transact(contracts.ledger.functions.addLedger(""), value=deposit)
    if provider is not None:
        user.transfer(provider, transfer)
        if acknowledge:
            user.tx.transact(contracts.inference.functions.acknowledgeTEESigner(provider, True))
    return user


def chat(
    provider: ProviderProcess, headers: dict[str, str], body: dict[str, Any] | None = None
) -> httpx.Response:
    """POST /v1/proxy/chat/completions (unary unless the body says stream)."""
    return httpx.post(
        f"{provider.url}/v1/proxy/chat/completions",
        json=body or PROMPT,
        headers=headers,
        timeout=30,
    )


def fee_of(usage: dict[str, int], input_price: int, output_price: int) -> int:
    return usage["prompt_tokens"] * input_price + usage["completion_tokens"] * output_price


def eventually(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Polls `check` until true or `timeout` s pass; for events, never to measure time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
