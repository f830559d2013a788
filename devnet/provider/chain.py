"""The provider's view of the chain: registration, a user's sub-account, settlement calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractCustomError

from devnet.contracts import contract, decode_error, load_abi
from devnet.deploy import Transactor

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


class ChainReader:
    """Async reads of InferenceServing for the request path."""

    def __init__(self, rpc_url: str, inference: str, provider: str) -> None:
        self._w3 = AsyncWeb3(AsyncWeb3.AsyncHTTPProvider(rpc_url))
        self._serving = self._w3.eth.contract(
            address=Web3.to_checksum_address(inference), abi=load_abi("InferenceServing")
        )
        self._provider = Web3.to_checksum_address(provider)

    async def sub_account(self, user: str) -> SubAccount | None:
        """The user's sub-account with this provider; None if it does not exist."""
        try:
            raw: Any = await self._serving.functions.getAccount(
                Web3.to_checksum_address(user), self._provider
            ).call()
        except ContractCustomError as error:
            decoded = decode_error(load_abi("InferenceServing"), str(error.data))
            if decoded is not None and decoded.name == "AccountNotExists":
                return None
            raise
        # Indexes per the ABI: balance 3, pendingRefund 4, acknowledged 7, generation 9,
        # revokedBitmap 10 (never 10 for generation: that breaks after revoke-all).
        return SubAccount(
            balance=raw[3],
            pending_refund=raw[4],
            acknowledged=raw[7],
            generation=raw[9],
            revoked_bitmap=raw[10],
        )

    async def tee_signer_acknowledged(self) -> bool:
        """Whether the contract owner vouched for this provider's TEE signer."""
        service: Any = await self._serving.functions.getService(self._provider).call()
        return bool(service[10])

    async def close(self) -> None:
        await self._w3.provider.disconnect()


def provider_transactor(rpc_url: str, account: LocalAccount) -> Transactor:
    """Sync sender for registration and settlement (runs in a worker thread when async)."""
    return Transactor(Web3(Web3.HTTPProvider(rpc_url)), account)
