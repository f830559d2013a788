"""Inference's domain errors, one base, each named for what went wrong, and ERRORS: how each
(and a failed call to a dependency) ends an RPC."""

from __future__ import annotations

import grpc
import grpc.aio

from services.inference.portfolio import PortfolioInputError
from zerog_grpc import KERNEL_ERRORS, ErrorMap, Failure, status
from zerog_grpc.errormap import Rule
from zerog_grpc.errors import bad_request, error_info, retry_info
from zerog_grpc.rate_permits import RateLimited, rate_limited
from zerog_grpc.relay import details_of, relayed

Code = grpc.StatusCode


class InferenceError(Exception):
    """Base of every inference domain error."""


class ProviderError(InferenceError):
    """One provider call failed; `retryable` says whether trying again may help."""

    def __init__(
        self,
        outcome: str,
        message: str,
        *,
        status: int = 0,
        retryable: bool,
        refusal: Failure | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.retryable = retryable
        # A dependency's refusal the caller can act on (the broker's "not acknowledged").
        self.refusal = refusal


class NoProvider(InferenceError):
    """No provider serves the model under the routing filters."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no provider serves model {model or '(any)'} with these routing options")
        self.model = model


class ProvidersFailed(InferenceError):
    """Every candidate failed with retryable errors or had an open breaker; `refusal` when
    the broker refused every one of them in a way the caller can act on."""

    def __init__(self, last: str, attempts: int, refusal: Failure | None = None) -> None:
        super().__init__(f"all providers failed after {attempts} attempts; last: {last}")
        self.last = last
        self.attempts = attempts
        self.refusal = refusal


class ProviderRejected(InferenceError):
    """A provider refused the request with a status that retrying cannot fix."""

    def __init__(self, provider: str, status: int, message: str, attempts: int = 1) -> None:
        super().__init__(f"provider {provider} refused the request ({status}): {message}")
        self.provider = provider
        self.status = status
        self.attempts = attempts


class NoAnswer(InferenceError):
    """The caller has no answer under this request_id."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no answer under request_id {request_id!r}")
        self.request_id = request_id


class DeadlineReached(InferenceError):
    """The caller's deadline leaves no time for another attempt."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"deadline reached after {attempts} attempts")
        self.attempts = attempts


class StreamInterrupted(InferenceError):
    """A provider's stream broke after tokens were already sent to the caller."""


class MalformedModelOutput(InferenceError):
    """The model's answer is not the structure the prompt asked for."""


class SessionError(InferenceError):
    """Something about the session `session_id`: it `what`."""

    what = "cannot be used"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"chat session {session_id} {self.what}")
        self.session_id = session_id


class SessionNotFound(SessionError):
    """No session has that id."""

    what = "not found"


class SessionArchived(SessionError):
    """The session is archived and read-only."""

    what = "is archived"


class NotSessionOwner(InferenceError):
    """The caller acts for a different user than the session's."""


class StorageUnavailable(InferenceError):
    """The storage service could not take an archive."""


class ResponseNotVerified(InferenceError):
    """A verifiable-only call got an answer whose TEE signature failed."""

    def __init__(self, provider: str, chat_id: str, reason: str) -> None:
        super().__init__(f"answer of {provider} failed TEE verification: {reason}")
        self.provider, self.chat_id, self.reason = provider, chat_id, reason


class NoApiKey(InferenceError):
    """No API key has this id."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key has id {key_id!r}")
        self.key_id = key_id


class WalletRefused(InferenceError):
    """The broker refused a wallet user's paid call (the intent, the account or its balance);
    its status and details go to our caller as they are."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details() or error.code().name)
        self.error = error


def _info(code: grpc.StatusCode, reason: str, **fields: str) -> Rule:
    """`code` with ErrorInfo(reason) whose metadata are these attributes of the error."""

    def rule(error: BaseException) -> Failure:
        metadata = {key: str(getattr(error, name)) for key, name in fields.items()}
        return Failure(code, str(error), (error_info(reason, **metadata),))

    return rule


def _providers_failed(error: ProvidersFailed) -> Failure:
    if error.refusal is not None:
        # Retrying cannot help: the broker's status and details tell the caller what to do.
        return error.refusal
    info = error_info("PROVIDERS_FAILED", attempts=str(error.attempts))
    return Failure(Code.UNAVAILABLE, str(error), (info, retry_info(5.0)))


def _wallet_refused(error: WalletRefused) -> Failure:
    # The broker's verdict on the user's own intent, account or balance: the caller's to act
    # on, so its status and every typed detail go on unchanged.
    return Failure(error.error.code(), str(error), details_of(error.error))


ERRORS: ErrorMap = {
    **KERNEL_ERRORS,
    grpc.aio.AioRpcError: relayed,
    RateLimited: rate_limited,
    PortfolioInputError: lambda e: Failure(
        Code.INVALID_ARGUMENT, str(e), (bad_request(e.problems),)
    ),
    NoProvider: _info(Code.NOT_FOUND, "NO_PROVIDER", model="model"),
    ProvidersFailed: _providers_failed,
    ProviderRejected: _info(
        Code.FAILED_PRECONDITION,
        "PROVIDER_REJECTED",
        provider="provider",
        status="status",
        attempts="attempts",
    ),
    DeadlineReached: status(Code.DEADLINE_EXCEEDED),
    StreamInterrupted: status(Code.UNAVAILABLE, "STREAM_INTERRUPTED"),
    MalformedModelOutput: status(Code.FAILED_PRECONDITION, "MALFORMED_MODEL_OUTPUT"),
    SessionNotFound: _info(Code.NOT_FOUND, "SESSION_NOT_FOUND", session_id="session_id"),
    SessionArchived: _info(Code.FAILED_PRECONDITION, "SESSION_ARCHIVED", session_id="session_id"),
    NotSessionOwner: status(Code.PERMISSION_DENIED, "NOT_SESSION_OWNER"),
    ResponseNotVerified: _info(
        Code.FAILED_PRECONDITION,
        "RESPONSE_NOT_VERIFIED",
        provider="provider",
        chat_id="chat_id",
        why="reason",
    ),
    StorageUnavailable: status(Code.UNAVAILABLE, "STORAGE_UNAVAILABLE"),
    NoAnswer: _info(Code.NOT_FOUND, "NO_ANSWER", request_id="request_id"),
    WalletRefused: _wallet_refused,
    NoApiKey: _info(Code.NOT_FOUND, "NO_API_KEY", key_id="key_id"),
}
