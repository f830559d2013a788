"""Which calling services may use which quota methods (AUTH_ALLOW overrides per method)."""

from __future__ import annotations

from zerog_grpc import ANY_SERVICE

# Services that spend on a subject's behalf.
_SPENDERS = frozenset({"inference", "storage", "broker", "scheduler", "admin"})
_ADMIN = frozenset({"admin"})
_ANYONE = frozenset({ANY_SERVICE})

DEFAULT_ALLOW: dict[str, frozenset[str]] = {
    "Reserve": _SPENDERS,
    "Commit": _SPENDERS,
    "CommitBatch": _SPENDERS,
    "Release": _SPENDERS,
    "AcquireLease": _SPENDERS,
    "ReportLeaseSpends": _SPENDERS,
    "ReturnLease": _SPENDERS,
    # Permits a holder admits calls with: the services that enforce rate limits.
    "AcquireRatePermits": _SPENDERS,
    "ReturnRatePermits": _SPENDERS,
    # Only the services that record stored bytes give them back.
    "ReleaseUsage": frozenset({"storage", "admin"}),
    "CheckRateLimit": _ANYONE,
    "EstimateCost": _ANYONE,
    "GetQuota": _ANYONE,
    "ListTiers": _ANYONE,
    "ListPrices": _ANYONE,
    "ListRateLimits": _ANYONE,
    "ListCostRecords": _ANYONE,
    "GetCostSummary": _ANYONE,
    "WatchAlerts": _ANYONE,
    "SetSubjectTier": _ADMIN,
    "SetTierLimits": _ADMIN,
    "SetPrice": _ADMIN,
    "SetRateLimit": _ADMIN,
    "DeleteRateLimit": _ADMIN,
}
