"""The scheduler's domain errors, one base, each named for what went wrong."""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of every scheduler domain error."""


class JobNotFound(SchedulerError):
    """No job has that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"job {name!r} not found")
        self.name = name


class RunNotFound(SchedulerError):
    """No run has that id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class UserNotFound(SchedulerError):
    """No user has that id."""

    def __init__(self, user_id: str) -> None:
        super().__init__(f"user {user_id!r} not found")
        self.user_id = user_id


class BadPageToken(SchedulerError):
    """A page token this service did not issue."""
