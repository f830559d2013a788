"""Broker errors, and ERRORS: the status and typed details each (and each chain error) ends a
call with.

BrokerError
├── ProviderNotFound, ProviderNotAcknowledged, ProviderNotVerifiable
├── ApiKeyNotFound, ApiKeyRevoked, ApiKeysExhausted
├── AccountNotFound, IntentRefused
├── FeeAboveMaximum, TopUpAboveCap
└── Refused               a refusal (below) with what it refused: PreconditionFailure's subject

Chain errors (zerog_chain) are mapped here too: a revert by its custom error's name, a rejected
transaction as FAILED_PRECONDITION, an unreachable chain as UNAVAILABLE with RetryInfo.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
}
