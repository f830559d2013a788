"""Typed access to the 0G compute contracts (LedgerManager, InferenceServing) for one wallet."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from eth_utils.address import to_checksum_address
from web3 import AsyncWeb3

from zerog_chain.abis import load_abi
from zerog_chain.errors import ContractReverted
from zerog_chain.networks import NetworkProfile
from zerog_chain.node import contract_call
from zerog_chain.records import Receipt
from zerog_chain.sender import TxSender

T = TypeVar("T")
# getAllServices refuses limits above 50 (LimitTooLarge).
SERVICES_PAGE = 50


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    """getLedger(user)."""

    user: str
    available: int
    total: int
    additional_info: str


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """getAccount(user, provider); generation is index 9 and revokedBitmap index 10."""

    user: str
    provider: str
    nonce: int
    balance: int
    pending_refund: int
    acknowledged: bool
    generation: int
    revoked_bitmap: int

    @property
    def locked(self) -> int:
        """What the provider can still charge: balance minus pending refunds."""
        return self.balance - self.pending_refund


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """One inference service as InferenceServing stores it."""

    provider: str
    service_type: str
    url: str
    input_price: int
    output_price: int
    updated_at: int
    model: str
    verifiability: str
    additional_info: str
    tee_signer: str
    tee_signer_acknowledged: bool


def _service(raw: Sequence[Any]) -> ServiceInfo:
    return ServiceInfo(
        to_checksum_address(raw[0]),
        str(raw[1]),
        str(raw[2]),
        int(raw[3]),
        int(raw[4]),
        int(raw[5]),
        str(raw[6]),
        str(raw[7]),
        str(raw[8]),
        to_checksum_address(raw[9]),
        bool(raw[10]),
    )


async def read(call: Awaitable[T]) -> T:
    """Await a contract read, turning reverts and transport errors into ours."""
    with contract_call():
        return await call


class ComputeContracts:
    """The wallet's view of LedgerManager and InferenceServing; writes go through TxSender."""

    def __init__(self, w3: AsyncWeb3[Any], profile: NetworkProfile, sender: TxSender) -> None:
        self.sender = sender
        self.user = sender.wallet.address
        self.ledger = w3.eth.contract(
            address=to_checksum_address(profile.ledger), abi=load_abi("LedgerManager")
        )
        self.inference = w3.eth.contract(
            address=to_checksum_address(profile.inference), abi=load_abi("InferenceServing")
        )
        self._service_name: str | None = None

    async def service_name(self) -> str:
        """The inference registry name (`inference-v1.0`), read once from the ledger."""
        if self._service_name is None:
            info = await read(self.ledger.functions.getServiceInfo(self.inference.address).call())
            self._service_name = str(info[4])
        return self._service_name

    async def get_ledger(self) -> LedgerInfo | None:
        """The wallet's ledger, or None when it has none."""
        try:
            raw = await read(self.ledger.functions.getLedger(self.user).call())
        except ContractReverted as error:
            if error.name == "LedgerNotExists":
                return None
            raise
        return LedgerInfo(to_checksum_address(raw[0]), int(raw[1]), int(raw[2]), str(raw[3]))

    async def get_account(self, provider: str) -> AccountInfo | None:
        """The wallet's sub-account with a provider, or None."""
        try:
            raw = await read(self.inference.functions.getAccount(self.user, provider).call())
        except ContractReverted as error:
            if error.name == "AccountNotExists":
                return None
            raise
        return AccountInfo(
            to_checksum_address(raw[0]),
            to_checksum_address(raw[1]),
            int(raw[2]),
            int(raw[3]),
            int(raw[4]),
            bool(raw[7]),
            int(raw[9]),
            int(raw[10]),
        )

    async def ledger_providers(self) -> list[str]:
        """Providers the wallet has sub-accounts with."""
        name = await self.service_name()
        raw = await read(self.ledger.functions.getLedgerProviders(self.user, name).call())
        return [to_checksum_address(a) for a in raw]

    async def get_service(self, provider: str) -> ServiceInfo | None:
        """One provider's service, or None when it has none."""
        try:
            raw = await read(self.inference.functions.getService(provider).call())
        except ContractReverted as error:
            if error.name == "ServiceNotExist":
                return None
            raise
        return _service(raw)

    async def all_services(self) -> list[ServiceInfo]:
        """Every registered service (paged by 50)."""
        services: list[ServiceInfo] = []
        offset = 0
        while True:
            page, total = await read(
                self.inference.functions.getAllServices(offset, SERVICES_PAGE).call()
            )
            services.extend(_service(s) for s in page)
            offset += SERVICES_PAGE
            if offset >= int(total) or not page:
                return services

    def _data(self, contract: Any, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])

    async def add_ledger(self, amount: int, *, request_id: str) -> Receipt:
        """addLedger("") with `amount` as the first deposit."""
        data = self._data(self.ledger, "addLedger", "")
        return await self.sender.send(
            self.ledger.address, data, value=amount, purpose="CREATE_LEDGER", request_id=request_id
        )

    async def deposit(self, amount: int, *, request_id: str, purpose: str = "DEPOSIT") -> Receipt:
        """depositFund() with `amount`."""
        data = self._data(self.ledger, "depositFund")
        return await self.sender.send(
            self.ledger.address, data, value=amount, purpose=purpose, request_id=request_id
        )

    async def transfer(
        self, provider: str, amount: int, *, request_id: str, purpose: str = "TRANSFER"
    ) -> Receipt:
        """transferFund(provider, <inference full name>, amount)."""
        name = await self.service_name()
        data = self._data(self.ledger, "transferFund", provider, name, amount)
        return await self.sender.send(
            self.ledger.address, data, purpose=purpose, request_id=request_id
        )

    async def retrieve(self, providers: Sequence[str], *, request_id: str) -> Receipt:
        """retrieveFund(providers, <inference full name>)."""
        name = await self.service_name()
        data = self._data(self.ledger, "retrieveFund", list(providers), name)
        return await self.sender.send(
            self.ledger.address, data, purpose="RETRIEVE", request_id=request_id
        )

    async def refund(self, amount: int, *, request_id: str) -> Receipt:
        """refund(amount): ledger -> wallet."""
        data = self._data(self.ledger, "refund", amount)
        return await self.sender.send(
            self.ledger.address, data, purpose="REFUND", request_id=request_id
        )

    async def acknowledge(self, provider: str, *, request_id: str) -> Receipt:
        """acknowledgeTEESigner(provider, true)."""
        data = self._data(self.inference, "acknowledgeTEESigner", provider, True)
        return await self.sender.send(
            self.inference.address, data, purpose="ACKNOWLEDGE", request_id=request_id
        )

    async def revoke_token(self, provider: str, token_id: int, *, request_id: str) -> Receipt:
        """revokeToken(provider, tokenId)."""
        data = self._data(self.inference, "revokeToken", provider, token_id)
        return await self.sender.send(
            self.inference.address, data, purpose="REVOKE_TOKEN", request_id=request_id
        )

    async def revoke_all_tokens(self, provider: str, *, request_id: str) -> Receipt:
        """revokeAllTokens(provider): generation + 1."""
        data = self._data(self.inference, "revokeAllTokens", provider)
        return await self.sender.send(
            self.inference.address, data, purpose="REVOKE_ALL_TOKENS", request_id=request_id
        )
