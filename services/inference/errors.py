"""Inference's domain errors, one base, each named for what went wrong."""

from __future__ import annotations


class InferenceError(Exception):
    """Base of every inference domain error."""


class ProviderError(InferenceError):
    """One provider call failed; `retryable` says whether trying again may help."""

    def __init__(self, outcome: str, message: str, *, status: int = 0, retryable: bool) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.retryable = retryable


class NoProvider(InferenceError):
    """No provider serves the model under the routing filters."""

    def __init__(self, model: str) -> None:
        super().__init__(f"no provider serves model {model or '(any)'} with these routing options")
        self.model = model


class ProvidersFailed(InferenceError):
    """Every candidate failed with retryable errors or had an open breaker."""

    def __init__(self, last: str, attempts: int) -> None:
        super().__init__(f"all providers failed after {attempts} attempts; last: {last}")
        self.last = last
        self.attempts = attempts


class ProviderRejected(InferenceError):
    """A provider refused the request with a status that retrying cannot fix."""

    def __init__(self, provider: str, status: int, message: str, attempts: int = 1) -> None:
        super().__init__(f"provider {provider} refused the request ({status}): {message}")
        self.provider = provider
        self.status = status
        self.attempts = attempts


class DeadlineReached(InferenceError):
    """The caller's deadline leaves no time for another attempt."""

    def __init__(self, attempts: int) -> None:
        super().__init__(f"deadline reached after {attempts} attempts")
        self.attempts = attempts


class StreamInterrupted(InferenceError):
    """A provider's stream broke after tokens were already sent to the caller."""


class MalformedModelOutput(InferenceError):
    """The model's answer is not the structure the prompt asked for."""


class SessionNotFound(InferenceError):
    """No session has that id."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"chat session {session_id} not found")
        self.session_id = session_id


class SessionArchived(InferenceError):
    """The session is archived and read-only."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"chat session {session_id} is archived")
        self.session_id = session_id


class NotSessionOwner(InferenceError):
    """The caller acts for a different user than the session's."""


class RequestIdReused(InferenceError):
    """A request_id came back with a different request."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request_id {request_id!r} was used for a different request")
        self.request_id = request_id


class StorageUnavailable(InferenceError):
    """The storage service could not take an archive."""


class ResponseNotVerified(InferenceError):
    """A verifiable-only call got an answer whose TEE signature failed."""

    def __init__(self, provider: str, chat_id: str, reason: str) -> None:
        super().__init__(f"answer of {provider} failed TEE verification: {reason}")
        self.provider, self.chat_id, self.reason = provider, chat_id, reason


class RequestInProgress(InferenceError):
    """Another call with the same request_id is running (here or on another replica)."""

    def __init__(self, request_id: str, retry_after: float) -> None:
        super().__init__(
            f"request_id {request_id!r} is being answered by an earlier call;"
            " retry to get its answer"
        )
        self.request_id = request_id
        self.retry_after = retry_after
