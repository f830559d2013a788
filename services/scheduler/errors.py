"""The scheduler's domain errors and ERRORS, the status each one ends a call with."""

from __future__ import annotations

import grpc

from zerog_grpc import KERNEL_ERRORS, ErrorMap, Failure, error_info


class SchedulerError(Exception):
    """Base of every scheduler domain error."""


class NotFound(SchedulerError):
    """Something a request names does not exist; `reason` and `field` name it for clients."""

    reason = "NOT_FOUND"
    field = "name"

    def __init__(self, what: str, value: str) -> None:
        super().__init__(f"{what} {value!r} not found")
        self.value = value


class JobNotFound(NotFound):
    """No job has that name."""

    reason, field = "JOB_NOT_FOUND", "job"

    def __init__(self, name: str) -> None:
        super().__init__("job", name)


class RunNotFound(NotFound):
    """No run has that id."""

    reason, field = "RUN_NOT_FOUND", "run_id"

    def __init__(self, run_id: str) -> None:
        super().__init__("run", run_id)


class UserNotFound(NotFound):
    """No user has that id."""

    reason, field = "USER_NOT_FOUND", "user_id"

    def __init__(self, user_id: str) -> None:
        super().__init__("user", user_id)


class BadPageToken(SchedulerError):
    """A page token this service did not issue."""


def _not_found(error: NotFound) -> Failure:
    detail = error_info(error.reason, **{error.field: error.value})
    return Failure(grpc.StatusCode.NOT_FOUND, str(error), (detail,))


# Other SchedulerErrors (a page token) are caught where they arise; anything unmapped that
# escapes a handler is INTERNAL "internal error", as before.
ERRORS: ErrorMap = {**KERNEL_ERRORS, NotFound: _not_found}
