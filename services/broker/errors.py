"""Broker errors and the one place that turns them (and chain errors) into gRPC statuses."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
import grpc.aio
from grpc import StatusCode

from zerog_chain import (
    ChainError,
    ChainUnavailable,
    ContractReverted,
    ReceiptTimeout,
    TransactionFailed,
    TransactionRejected,
)
from zerog_grpc import abort, error_info, precondition_failure, retry_info

Context = grpc.aio.ServicerContext[Any, Any]

# Contract errors that mean "not enough money somewhere".
_BALANCE_ERRORS = frozenset(
    {"InsufficientAvailableBalance", "InsufficientBalance", "MinimumDepositRequired"}
)


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


class AccountNotFound(BrokerError):
    """The wallet user has no account (InitAccount first)."""


class RequestIdReused(BrokerError):
    """The request_id was used for a different request."""


class IntentRefused(BrokerError):
    """A wallet intent failed verification; `reason` is UPPER_SNAKE."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


async def _reverted(context: Context, error: ContractReverted, subject: str) -> NoReturn:
    metadata = {"error": error.name, **{f"arg{i}": str(a) for i, a in enumerate(error.args_)}}
    message = f"contract reverted with {error}"
    if error.name == "LedgerNotExists":
        await abort(
            context, StatusCode.NOT_FOUND, message, error_info("LEDGER_NOT_FOUND", **metadata)
        )
    if error.name == "ServiceNotExist":
        await abort(
            context, StatusCode.NOT_FOUND, message, error_info("PROVIDER_NOT_FOUND", **metadata)
        )
    if error.name == "LedgerExists":
        await abort(
            context, StatusCode.ALREADY_EXISTS, message, error_info("LEDGER_EXISTS", **metadata)
        )
    kind = "BALANCE" if error.name in _BALANCE_ERRORS else "CONTRACT"
    await abort(
        context,
        StatusCode.FAILED_PRECONDITION,
        message,
        precondition_failure(kind, subject, f"{error.name}: {message}"),
        error_info("CONTRACT_REVERTED", **metadata),
    )


async def fail(context: Context, error: Exception, subject: str = "") -> NoReturn:
    """Abort the call with the status and typed details that `error` deserves."""
    if isinstance(error, ContractReverted):
        await _reverted(context, error, subject)
    if isinstance(error, TransactionFailed) and error.reason is not None:
        await _reverted(context, error.reason, subject)
    if isinstance(error, TransactionRejected):
        kind = "BALANCE" if error.name == "InsufficientFunds" else "TRANSACTION"
        await abort(
            context,
            StatusCode.FAILED_PRECONDITION,
            f"the node refused the transaction: {error}",
            precondition_failure(kind, subject or "wallet", str(error)),
            error_info("TRANSACTION_REJECTED", error=error.name),
        )
    if isinstance(error, (ChainUnavailable, ReceiptTimeout)):
        await abort(context, StatusCode.UNAVAILABLE, str(error), retry_info(1.0))
    if isinstance(error, ProviderNotFound):
        await abort(
            context,
            StatusCode.NOT_FOUND,
            str(error),
            error_info("PROVIDER_NOT_FOUND", provider=error.provider, error="ServiceNotExist"),
        )
    if isinstance(error, ProviderNotAcknowledged):
        await abort(
            context,
            StatusCode.FAILED_PRECONDITION,
            str(error),
            precondition_failure("ACKNOWLEDGEMENT", error.provider, str(error)),
            error_info("PROVIDER_NOT_ACKNOWLEDGED", provider=error.provider),
        )
    simple: dict[type[BrokerError], tuple[StatusCode, str]] = {
        ProviderNotVerifiable: (StatusCode.FAILED_PRECONDITION, "PROVIDER_NOT_VERIFIABLE"),
        ApiKeyNotFound: (StatusCode.NOT_FOUND, "API_KEY_NOT_FOUND"),
        ApiKeysExhausted: (StatusCode.FAILED_PRECONDITION, "API_KEYS_EXHAUSTED"),
        AccountNotFound: (StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND"),
        RequestIdReused: (StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED"),
    }
    if isinstance(error, ApiKeyRevoked):
        await abort(
            context,
            StatusCode.FAILED_PRECONDITION,
            str(error),
            precondition_failure("API_KEY", subject, str(error)),
            error_info("API_KEY_REVOKED"),
        )
    if isinstance(error, FeeAboveMaximum):
        await abort(
            context,
            StatusCode.FAILED_PRECONDITION,
            str(error),
            precondition_failure("FEE", "max_fee_neuron", str(error)),
            error_info("FEE_ABOVE_MAXIMUM", fee_neuron=str(error.fee)),
        )
    if isinstance(error, TopUpAboveCap):
        await abort(
            context,
            StatusCode.FAILED_PRECONDITION,
            str(error),
            precondition_failure("TOPUP", error.provider, str(error)),
            error_info(
                error.name,
                provider=error.provider,
                amount_neuron=str(error.amount),
                cap_neuron=str(error.cap),
            ),
        )
    if isinstance(error, IntentRefused):
        await abort(context, StatusCode.UNAUTHENTICATED, str(error), error_info(error.reason))
    for kind_, (code, reason) in simple.items():
        if isinstance(error, kind_):
            await abort(context, code, str(error), error_info(reason))
    if isinstance(error, ChainError):
        await abort(context, StatusCode.UNAVAILABLE, "chain error", error_info("CHAIN_ERROR"))
    raise error
