"""Which calling services may use which scheduler methods (AUTH_ALLOW overrides per method)."""

from __future__ import annotations

from collections.abc import Iterable

from zerog_grpc import ANY_SERVICE

_HOST_METHODS = (
    "SetUserPreferences",
    "GetUserPreferences",
    "ListUserPreferences",
    "DeleteUserPreferences",
    "PushPortfolioSnapshot",
    "PushNewsItems",
    "ListDeliveries",
)
_ADMIN_METHODS = ("UpdateJob", "PauseJob", "ResumeJob", "TriggerJob")
_READ_METHODS = ("ListJobs", "GetJob", "ListRuns", "GetRun", "GetSchedulerStatus")


def default_allow(host_services: Iterable[str] = ("app",)) -> dict[str, frozenset[str]]:
    """The host app (SCHEDULER_HOST_SERVICES) pushes data and manages its users; operators
    (admin) control jobs and may do what the host does; anyone may read jobs and runs."""
    host = frozenset({*host_services, "admin"})
    return {
        **{method: frozenset({ANY_SERVICE}) for method in _READ_METHODS},
        **{method: frozenset({"admin"}) for method in _ADMIN_METHODS},
        **{method: host for method in _HOST_METHODS},
    }


DEFAULT_ALLOW: dict[str, frozenset[str]] = default_allow()
