"""The provider's view of the chain: registration, a user's sub-account, settlement calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_account.signers.local import LocalAccount
from eth_typing import ABI
from eth_utils.abi import function_signature_to_4byte_selector, get_abi_output_types
from web3 import Web3

from devnet.contracts import contract, decode_error, load_abi
from devnet.deploy import Transactor
from devnet.provider.rpc import Call, ChainHead, JsonRpc, RpcError

SERVICE_TYPE = "chatbot"
VERIFIABILITY = "TeeML"
MIN_LOCKED_BALANCE = 10**18
"""The Go provider keeps 1 A0GI locked on top of the fees it may still claim."""


@dataclass(frozen=True)
class ServiceOffer:
    """What the provider registers with addOrUpdateService."""

    url: str
    model: str
    input_price: int
    output_price: int
    tee_signer: str
    additional_info: str = json.dumps({"ProviderType": "decentralized", "devnet": True})


def register_service(sender: Transactor, inference: str, offer: ServiceOffer) -> None:
    """addOrUpdateService; pays the contract's MIN_PROVIDER_STAKE on first registration."""
    serving = contract(sender.w3, "InferenceServing", inference)
    provider = sender.account.address
    exists = serving.functions.serviceExists(provider).call()
    stake = 0 if exists else serving.functions.MIN_PROVIDER_STAKE().call()
    params = (
        SERVICE_TYPE,
        offer.url,
        offer.model,
        VERIFIABILITY,
        offer.input_price,
        offer.output_price,
        offer.additional_info,
        offer.tee_signer,
    )
    sender.transact(serving.functions.addOrUpdateService(params), value=stake)


@dataclass(frozen=True)
class SubAccount:
    """getAccount(user, provider), the fields the provider checks."""

    balance: int
    pending_refund: int
    acknowledged: bool
    generation: int
    revoked_bitmap: int

    @property
    def locked(self) -> int:
        return self.balance - self.pending_refund


@dataclass(frozen=True)
class ChainView:
    """What one request needs from the chain, read at one block."""

    account: SubAccount | None
    """getAccount(user, provider); None if the sub-account does not exist."""
    tee_signer_acknowledged: bool
    """Whether the contract owner vouched for this provider's TEE signer."""


ACCOUNTS_KEPT = 10_000
"""Sub-accounts remembered (each with the block it was read at); past this, all are forgotten."""


class ChainReader:
    """Reads of InferenceServing for the request path, as of the chain head at arrival.

    Each read is remembered with its block number; a request reads the head (one coalesced
    eth_blockNumber) and reads getAccount/getService again only when a block was mined since:
    a revoke, a refund or a transfer is seen by the next request, as without the cache.
    """

    def __init__(self, rpc_url: str, inference: str, provider: str) -> None:
        self._rpc = JsonRpc(rpc_url)
        self._head = ChainHead(self._rpc)
        self._inference = Web3.to_checksum_address(inference)
        self._provider = Web3.to_checksum_address(provider)
        abi = load_abi("InferenceServing")
        self._account_types = _output_types(abi, "getAccount")
        self._service_types = _output_types(abi, "getService")
        self._accounts: dict[str, tuple[int, SubAccount | None]] = {}
        self._acknowledged: tuple[int, bool] = (-1, False)

    async def view(self, user: str) -> ChainView:
        """The user's sub-account with this provider and the TEE signer's acknowledgement."""
        block = await self._head.number()
        account = self._accounts.get(user)
        stale_account = account is None or account[0] != block
        stale_service = self._acknowledged[0] != block
        calls: list[Call] = []
        if stale_account:
            calls.append(self._call(block, "getAccount(address,address)", user, self._provider))
        if stale_service:
            calls.append(self._call(block, "getService(address)", self._provider))
        answers = iter(await self._rpc.batch(calls) if calls else [])
        if stale_account:
            account = (block, self._sub_account(next(answers)))
            if len(self._accounts) >= ACCOUNTS_KEPT:
                self._accounts.clear()
            self._accounts[user] = account
        if stale_service:
            service = _decoded(next(answers), self._service_types)
            self._acknowledged = (block, bool(service[10]))
        assert account is not None
        return ChainView(account[1], self._acknowledged[1])

    def _call(self, block: int, signature: str, *addresses: str) -> Call:
        data = function_signature_to_4byte_selector(signature) + encode(
            ["address"] * len(addresses), addresses
        )
        return ("eth_call", [{"to": self._inference, "data": "0x" + data.hex()}, hex(block)])

    def _sub_account(self, answer: Any) -> SubAccount | None:
        if isinstance(answer, RpcError) and answer.data:
            decoded = decode_error(load_abi("InferenceServing"), answer.data)
            if decoded is not None and decoded.name == "AccountNotExists":
                return None
        raw = _decoded(answer, self._account_types)
        # Indexes per the ABI: balance 3, pendingRefund 4, acknowledged 7, generation 9,
        # revokedBitmap 10 (never 10 for generation: that breaks after revoke-all).
        return SubAccount(
            balance=raw[3],
            pending_refund=raw[4],
            acknowledged=raw[7],
            generation=raw[9],
            revoked_bitmap=raw[10],
        )

    async def close(self) -> None:
        await self._rpc.close()


def _output_types(abi: ABI, name: str) -> list[str]:
    (function,) = (e for e in abi if e["type"] == "function" and e.get("name") == name)
    return get_abi_output_types(function)


def _decoded(answer: Any, types: list[str]) -> Any:
    """The one struct an eth_call returned; its RpcError raised if it failed."""
    if isinstance(answer, RpcError):
        raise answer
    return decode(types, bytes.fromhex(str(answer).removeprefix("0x")))[0]


def provider_transactor(rpc_url: str, account: LocalAccount) -> Transactor:
    """Sync sender for registration and settlement (runs in a worker thread when async)."""
    return Transactor(Web3(Web3.HTTPProvider(rpc_url)), account)
