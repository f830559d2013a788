"""Typed access to the 0G compute contracts (LedgerManager, InferenceServing) for one wallet."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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


# getService's tuple, member by member in ServiceInfo's field order.
_SERVICE_MEMBERS: tuple[Callable[[Any], Any], ...] = (
    to_checksum_address,
    str,
    str,
    int,
    int,
    int,
    str,
    str,
    str,
    to_checksum_address,
    bool,
)


def _service(raw: Sequence[Any]) -> ServiceInfo:
    return ServiceInfo(
        *(convert(member) for convert, member in zip(_SERVICE_MEMBERS, raw, strict=False))
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

    async def _send(
        self,
        contract: Any,
        fn: str,
        args: Sequence[Any],
        purpose: str,
        request_id: str,
        value: int = 0,
    ) -> Receipt:
        data = bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])
        return await self.sender.send(
            contract.address, data, value=value, purpose=purpose, request_id=request_id
        )

    async def add_ledger(self, amount: int, *, request_id: str) -> Receipt:
        """addLedger("") with `amount` as the first deposit."""
        return await self._send(
            self.ledger, "addLedger", ("",), "CREATE_LEDGER", request_id, amount
        )

    async def deposit(self, amount: int, *, request_id: str, purpose: str = "DEPOSIT") -> Receipt:
        """depositFund() with `amount`."""
        return await self._send(self.ledger, "depositFund", (), purpose, request_id, amount)

    async def transfer(
        self, provider: str, amount: int, *, request_id: str, purpose: str = "TRANSFER"
    ) -> Receipt:
        """transferFund(provider, <inference full name>, amount)."""
        args = (provider, await self.service_name(), amount)
        return await self._send(self.ledger, "transferFund", args, purpose, request_id)

    async def retrieve(self, providers: Sequence[str], *, request_id: str) -> Receipt:
        """retrieveFund(providers, <inference full name>)."""
        args = (list(providers), await self.service_name())
        return await self._send(self.ledger, "retrieveFund", args, "RETRIEVE", request_id)

    async def refund(self, amount: int, *, request_id: str) -> Receipt:
        """refund(amount): ledger -> wallet."""
        return await self._send(self.ledger, "refund", (amount,), "REFUND", request_id)

    async def acknowledge(self, provider: str, *, request_id: str) -> Receipt:
        """acknowledgeTEESigner(provider, true)."""
        args = (provider, True)
        return await self._send(
            self.inference, "acknowledgeTEESigner", args, "ACKNOWLEDGE", request_id
        )

    async def revoke_token(self, provider: str, token_id: int, *, request_id: str) -> Receipt:
        """revokeToken(provider, tokenId)."""
        args = (provider, token_id)
        return await self._send(self.inference, "revokeToken", args, "REVOKE_TOKEN", request_id)

    async def revoke_all_tokens(self, provider: str, *, request_id: str) -> Receipt:
        """revokeAllTokens(provider): generation + 1."""
        args = (provider,)
        return await self._send(
            self.inference, "revokeAllTokens", args, "REVOKE_ALL_TOKENS", request_id
        )
