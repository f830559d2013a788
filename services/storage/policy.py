"""Which calling services may use which storage methods (AUTH_ALLOW overrides per method).

Namespaces' ACLs decide per tenant; this list only keeps unknown services out entirely.
"""

from __future__ import annotations

from zerog_grpc import ANY_SERVICE

_ANYONE = frozenset({ANY_SERVICE})
# Services that may run passes over every namespace (the job scheduler and operators).
GLOBAL_JOBS = frozenset({"scheduler", "admin"})

DEFAULT_ALLOW: dict[str, frozenset[str]] = {
    method: _ANYONE
    for method in (
        "CreateNamespace",
        "GetNamespace",
        "ListNamespaces",
        "UpdateNamespace",
        "SetNamespaceAcl",
        "DeleteNamespace",
        "PutObject",
        "GetObject",
        "HeadObject",
        "ListObjects",
        "DeleteObject",
        "VerifyObject",
        "RecoverObject",
        "RunVerification",
        "ListFlaggedObjects",
        "ApplyRetention",
    )
}
