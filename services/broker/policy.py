"""Which calling services may use which broker methods (AUTH_ALLOW overrides per method)."""

from __future__ import annotations

from zerog_grpc import ANY_SERVICE

_ADMIN = frozenset({"admin"})
_CALLERS = frozenset({"inference", "scheduler", "admin"})
_ANYONE = frozenset({ANY_SERVICE})

DEFAULT_ALLOW: dict[str, frozenset[str]] = {
    "GetWallet": _ANYONE,
    "GetLedger": _ANYONE,
    "ListProviders": _ANYONE,
    "GetProvider": _ANYONE,
    "ListApiKeys": _ADMIN,
    "ListTransactions": _ADMIN,
    "GetSettlementReport": _ANYONE,
    "CreateLedger": _ADMIN,
    "Deposit": _ADMIN,
    "TransferToProvider": _ADMIN,
    "RetrieveFunds": _ADMIN,
    "Refund": _ADMIN,
    "AcknowledgeProvider": _ADMIN,
    "CreateApiKey": _ADMIN,
    "RevokeApiKey": _ADMIN,
    "RevokeAllApiKeys": _ADMIN,
    "GetRequestCredentials": _CALLERS,
    "VerifyResponse": _CALLERS,
    "RecordUsage": _CALLERS,
    "RecordUsageBatch": _CALLERS,
    # Wallet-signed flows: the signature is the user's consent; the calling app relays it.
    "InitAccount": _CALLERS,
    "Fund": _CALLERS,
    "GetUserBalance": _CALLERS,
    # A wallet user's paid calls: the service that makes them checks and charges.
    "AuthorizeUser": frozenset({"inference", "admin"}),
    "ChargeUser": frozenset({"inference", "admin"}),
    "SubmitStorage": frozenset({"storage", "admin"}),
}
