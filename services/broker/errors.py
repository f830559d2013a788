"""Broker errors, and ERRORS: the status and typed details each (and each chain error) ends a
call with.

BrokerError
├── ProviderNotFound, ProviderNotAcknowledged, ProviderNotVerifiable
├── ApiKeyNotFound, ApiKeyRevoked, ApiKeysExhausted
├── AccountNotFound, IntentRefused, InsufficientBalance
├── DepositNotFound, DepositRefused, DepositUnconfirmed, DepositAlreadyCredited
├── UsageAlreadyCharged
├── FeeAboveMaximum, TopUpAboveCap
└── Refused               a refusal (below) with what it refused: PreconditionFailure's subject

Chain errors (zerog_chain) are mapped here too: a revert by its custom error's name, a rejected
transaction as FAILED_PRECONDITION, an unreachable chain as UNAVAILABLE with RetryInfo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from google.rpc.error_details_pb2 import QuotaFailure
from grpc import StatusCode

from zerog_chain import (
    ChainError,
    ChainUnavailable,
    ContractReverted,
    ReceiptTimeout,
    TransactionFailed,
    TransactionRejected,
)
from zerog_grpc import KERNEL_ERRORS, ErrorMap, Failure, error_info, precondition_failure, status
from zerog_grpc.errors import retry_info

# Contract errors that mean "not enough money somewhere".
_BALANCE_ERRORS = frozenset(
    {"InsufficientAvailableBalance", "InsufficientBalance", "MinimumDepositRequired"}
)
# Contract errors that are answers of their own rather than a failed precondition.
_CONTRACT_ANSWERS = {
    "LedgerNotExists": (StatusCode.NOT_FOUND, "LEDGER_NOT_FOUND"),
    "ServiceNotExist": (StatusCode.NOT_FOUND, "PROVIDER_NOT_FOUND"),
    "LedgerExists": (StatusCode.ALREADY_EXISTS, "LEDGER_EXISTS"),
}


class BrokerError(Exception):
    """Root of the broker's own errors."""


class ProviderNotFound(BrokerError):
    """No service is registered for the provider."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"provider {provider} has no inference service")
        self.provider = provider


class ProviderNotAcknowledged(BrokerError):
    """The wallet has not acknowledged the provider's TEE signer."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"provider {provider} is not acknowledged; call AcknowledgeProvider")
        self.provider = provider


class ProviderNotVerifiable(BrokerError):
    """The service is not TeeML, so its responses carry no signature."""


class ApiKeyNotFound(BrokerError):
    """No API key with that token id was issued for the provider."""


class ApiKeyRevoked(BrokerError):
    """The API key is already revoked."""


class ApiKeysExhausted(BrokerError):
    """All 255 token ids are in use or revoked for the provider."""


class AccountNotFound(BrokerError):
    """The wallet user has no account (InitAccount first)."""


class IntentRefused(BrokerError):
    """A wallet intent failed verification; `reason` is UPPER_SNAKE."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientBalance(BrokerError):
    """A wallet user's balance is below what a paid call needs."""

    def __init__(self, address: str, balance: int, required: int) -> None:
        super().__init__(
            f"the balance of {address} is {balance} neuron; at least {required} is needed"
        )
        self.address = address
        self.balance = balance
        self.required = required


class DepositNotFound(BrokerError):
    """The chain node does not know the deposit transaction."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"transaction {tx_hash} is not known to the chain node")
        self.tx_hash = tx_hash


class DepositRefused(BrokerError):
    """The transaction is not the user's payment to the deposit address; `reason` is
    UPPER_SNAKE (DEPOSIT_WRONG_SENDER, DEPOSIT_WRONG_RECIPIENT, DEPOSIT_WRONG_AMOUNT,
    DEPOSIT_FAILED)."""

    def __init__(self, reason: str, tx_hash: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.tx_hash = tx_hash


class DepositUnconfirmed(BrokerError):
    """The deposit has fewer confirmations than required (0: not mined yet)."""

    def __init__(self, tx_hash: str, confirmations: int, required: int) -> None:
        super().__init__(
            f"transaction {tx_hash} has {confirmations} of {required} confirmations;"
            " retry with the same request_id"
        )
        self.tx_hash = tx_hash
        self.confirmations = confirmations
        self.required = required


class DepositAlreadyCredited(BrokerError):
    """Another request credited the deposit already."""

    def __init__(self, tx_hash: str) -> None:
        super().__init__(f"transaction {tx_hash} was credited already")
        self.tx_hash = tx_hash


class UsageAlreadyCharged(BrokerError):
    """Another request charged the usage already."""

    def __init__(self, usage_id: str) -> None:
        super().__init__(f"usage {usage_id} was charged already")
        self.usage_id = usage_id


class FeeAboveMaximum(BrokerError):
    """A storage fee exceeds what the caller accepts."""

    def __init__(self, fee: int, maximum: int) -> None:
        super().__init__(f"fee {fee} neuron exceeds max_fee_neuron {maximum}")
        self.fee = fee
        self.maximum = maximum


class TopUpAboveCap(BrokerError):
    """An automatic top-up would move more than the cap allows (the provider's unsettled figure
    is not believable); nothing was sent."""

    name = "TOPUP_ABOVE_CAP"

    def __init__(self, provider: str, amount: int, cap: int) -> None:
        super().__init__(
            f"top-up of {amount} neuron to provider {provider} exceeds the cap of {cap} neuron"
        )
        self.provider = provider
        self.amount = amount
        self.cap = cap


class Refused(BrokerError):
    """`error` (a chain refusal or a revoked key), raised by work on `subject` ("ledger",
    "wallet", a provider, a key): the subject of the PreconditionFailure the caller gets."""

    def __init__(self, error: Exception, subject: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.subject = subject


def _reverted(error: ContractReverted, subject: str = "") -> Failure:
    metadata = {"error": error.name, **{f"arg{i}": str(a) for i, a in enumerate(error.args_)}}
    message = f"contract reverted with {error}"
    if error.name in _CONTRACT_ANSWERS:
        code, reason = _CONTRACT_ANSWERS[error.name]
        return Failure(code, message, (error_info(reason, **metadata),))
    kind = "BALANCE" if error.name in _BALANCE_ERRORS else "CONTRACT"
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        message,
        (
            precondition_failure(kind, subject, f"{error.name}: {message}"),
            error_info("CONTRACT_REVERTED", **metadata),
        ),
    )


def _chain_error(error: ChainError) -> Failure:
    return Failure(StatusCode.UNAVAILABLE, "chain error", (error_info("CHAIN_ERROR"),))


def _failed(error: TransactionFailed, subject: str = "") -> Failure:
    return _chain_error(error) if error.reason is None else _reverted(error.reason, subject)


def _rejected(error: TransactionRejected, subject: str = "") -> Failure:
    kind = "BALANCE" if error.name == "InsufficientFunds" else "TRANSACTION"
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        f"the node refused the transaction: {error}",
        (
            precondition_failure(kind, subject or "wallet", str(error)),
            error_info("TRANSACTION_REJECTED", error=error.name),
        ),
    )


def _key_revoked(error: ApiKeyRevoked, subject: str = "") -> Failure:
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        str(error),
        (precondition_failure("API_KEY", subject, str(error)), error_info("API_KEY_REVOKED")),
    )


# The refusals whose PreconditionFailure names a subject, which only the RPC knows.
_ABOUT: dict[type[Exception], Callable[[Any, str], Failure]] = {
    ContractReverted: _reverted,
    TransactionFailed: _failed,
    TransactionRejected: _rejected,
    ApiKeyRevoked: _key_revoked,
}


@contextmanager
def about(subject: str) -> Iterator[None]:
    """Refusals raised inside the block are about `subject` (see Refused)."""
    try:
        yield
    except tuple(_ABOUT) as error:
        raise Refused(error, subject) from error


def _no_subject(rule: Callable[[Any, str], Failure]) -> Callable[[Any], Failure]:
    """The rule for a refusal raised outside `about`: no subject."""
    return lambda error: rule(error, "")


def _refused(refused: Refused) -> Failure:
    rule = next(_ABOUT[kind] for kind in type(refused.error).__mro__ if kind in _ABOUT)
    return rule(refused.error, refused.subject)


def _provider_not_found(error: ProviderNotFound) -> Failure:
    return Failure(
        StatusCode.NOT_FOUND,
        str(error),
        (error_info("PROVIDER_NOT_FOUND", provider=error.provider, error="ServiceNotExist"),),
    )


def _not_acknowledged(error: ProviderNotAcknowledged) -> Failure:
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        str(error),
        (
            precondition_failure("ACKNOWLEDGEMENT", error.provider, str(error)),
            error_info("PROVIDER_NOT_ACKNOWLEDGED", provider=error.provider),
        ),
    )


def _fee_above_maximum(error: FeeAboveMaximum) -> Failure:
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        str(error),
        (
            precondition_failure("FEE", "max_fee_neuron", str(error)),
            error_info("FEE_ABOVE_MAXIMUM", fee_neuron=str(error.fee)),
        ),
    )


def _top_up_above_cap(error: TopUpAboveCap) -> Failure:
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        str(error),
        (
            precondition_failure("TOPUP", error.provider, str(error)),
            error_info(
                error.name,
                provider=error.provider,
                amount_neuron=str(error.amount),
                cap_neuron=str(error.cap),
            ),
        ),
    )


def _insufficient_balance(error: InsufficientBalance) -> Failure:
    violation = QuotaFailure.Violation(subject=f"wallet:{error.address}", description=str(error))
    return Failure(
        StatusCode.RESOURCE_EXHAUSTED,
        str(error),
        (
            QuotaFailure(violations=[violation]),
            error_info(
                "INSUFFICIENT_BALANCE",
                address=error.address,
                balance_neuron=str(error.balance),
                required_neuron=str(error.required),
            ),
        ),
    )


def _deposit_refused(error: DepositRefused) -> Failure:
    return Failure(
        StatusCode.FAILED_PRECONDITION,
        str(error),
        (
            precondition_failure("DEPOSIT", error.tx_hash, str(error)),
            error_info(error.reason, tx_hash=error.tx_hash),
        ),
    )


def _deposit_unconfirmed(error: DepositUnconfirmed) -> Failure:
    info = error_info(
        "DEPOSIT_UNCONFIRMED",
        tx_hash=error.tx_hash,
        confirmations=str(error.confirmations),
        required=str(error.required),
    )
    return Failure(StatusCode.UNAVAILABLE, str(error), (info, retry_info(2.0)))


ERRORS: ErrorMap = {
    **KERNEL_ERRORS,
    **{kind: _no_subject(rule) for kind, rule in _ABOUT.items()},
    Refused: _refused,
    ChainUnavailable: status(StatusCode.UNAVAILABLE, retry=1.0),
    ReceiptTimeout: status(StatusCode.UNAVAILABLE, retry=1.0),
    ChainError: _chain_error,
    ProviderNotFound: _provider_not_found,
    ProviderNotAcknowledged: _not_acknowledged,
    ProviderNotVerifiable: status(StatusCode.FAILED_PRECONDITION, "PROVIDER_NOT_VERIFIABLE"),
    ApiKeyNotFound: status(StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND"),
    ApiKeysExhausted: status(StatusCode.FAILED_PRECONDITION, "API_KEYS_EXHAUSTED"),
    AccountNotFound: status(StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
    IntentRefused: lambda e: Failure(StatusCode.UNAUTHENTICATED, str(e), (error_info(e.reason),)),
    FeeAboveMaximum: _fee_above_maximum,
    TopUpAboveCap: _top_up_above_cap,
    InsufficientBalance: _insufficient_balance,
    DepositNotFound: lambda e: Failure(
        StatusCode.NOT_FOUND, str(e), (error_info("DEPOSIT_NOT_FOUND", tx_hash=e.tx_hash),)
    ),
    DepositRefused: _deposit_refused,
    DepositUnconfirmed: _deposit_unconfirmed,
    UsageAlreadyCharged: lambda e: Failure(
        StatusCode.ALREADY_EXISTS,
        str(e),
        (error_info("USAGE_ALREADY_CHARGED", usage_id=e.usage_id),),
    ),
    DepositAlreadyCredited: lambda e: Failure(
        StatusCode.ALREADY_EXISTS,
        str(e),
        (error_info("DEPOSIT_ALREADY_CREDITED", tx_hash=e.tx_hash),),
    ),
}
