"""Which calling services may use which scheduler methods (AUTH_ALLOW overrides per method)."""

from __future__ import annotations

from zerog_grpc import ANY_SERVICE

# The host app pushes data and manages its users; operators control jobs.
_HOST = frozenset({"app", "admin"})
_ADMIN = frozenset({"admin"})
_ANYONE = frozenset({ANY_SERVICE})

DEFAULT_ALLOW: dict[str, frozenset[str]] = {
    "ListJobs": _ANYONE,
    "GetJob": _ANYONE,
    "ListRuns": _ANYONE,
    "GetRun": _ANYONE,
    "GetSchedulerStatus": _ANYONE,
    "UpdateJob": _ADMIN,
    "PauseJob": _ADMIN,
    "ResumeJob": _ADMIN,
    "TriggerJob": _ADMIN,
    "SetUserPreferences": _HOST,
    "GetUserPreferences": _HOST,
    "ListUserPreferences": _HOST,
    "DeleteUserPreferences": _HOST,
    "PushPortfolioSnapshot": _HOST,
    "PushNewsItems": _HOST,
    "ListDeliveries": _HOST,
}
