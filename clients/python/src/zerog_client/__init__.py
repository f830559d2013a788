"""Call zerog's gRPC services: channels, retries, typed errors and tokens.

key = zerog_client.SigningKey.from_file("keys/app.pem")   # the caller's own ES256/RS256 key
channel = zerog_client.connect("127.0.0.1:50053", token=zerog_client.MintedTokens(
    key, subject="app", audience="inference"))
stub = InferenceServiceStub(channel)
answer = zerog_client.call(stub.ChatCompletion, request)   # raises zerog_client.ZerogError
"""

from zerog_client.channel import Retry, connect, connect_aio, service_config
from zerog_client.errors import (
    Aborted,
    AlreadyExists,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RequestIdReused,
    RequestInProgress,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    ZerogError,
    from_rpc_error,
)
from zerog_client.retry import acall, call
from zerog_client.tokens import MintedTokens, SigningKey, UnusableKey, mint_token

__all__ = [
    "Aborted",
    "AlreadyExists",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "MintedTokens",
    "NotFound",
    "PermissionDenied",
    "RequestIdReused",
    "RequestInProgress",
    "ResourceExhausted",
    "Retry",
    "SigningKey",
    "Unauthenticated",
    "Unavailable",
    "UnusableKey",
    "ZerogError",
    "acall",
    "call",
    "connect",
    "connect_aio",
    "from_rpc_error",
    "mint_token",
    "service_config",
]
