"""What every zerog gRPC service shares: bootstrap, errors, auth, tracing, metrics and logs."""

from zerog_grpc import request_ids
from zerog_grpc.auth import (
    ANY_SERVICE,
    AuthError,
    AuthInterceptor,
    Caller,
    JwtVerifier,
    TokenMinter,
    current_caller,
)
from zerog_grpc.errors import (
    DOMAIN,
    abort,
    bad_request,
    error_info,
    precondition_failure,
    quota_failure,
    retry_info,
    status_of,
    unpack_detail,
)
from zerog_grpc.interceptors import HideUnexpectedErrors, ServerMetrics
from zerog_grpc.jsonlog import JsonFormatter, setup_logging
from zerog_grpc.server import (
    RunningServer,
    start_metrics_server,
    start_server,
    wait_for_signal,
)
from zerog_grpc.tracing import client_interceptors, setup_tracing

__all__ = [
    "ANY_SERVICE",
    "DOMAIN",
    "AuthError",
    "AuthInterceptor",
    "Caller",
    "HideUnexpectedErrors",
    "JsonFormatter",
    "JwtVerifier",
    "RunningServer",
    "ServerMetrics",
    "TokenMinter",
    "abort",
    "bad_request",
    "client_interceptors",
    "current_caller",
    "error_info",
    "precondition_failure",
    "quota_failure",
    "request_ids",
    "retry_info",
    "setup_logging",
    "setup_tracing",
    "start_metrics_server",
    "start_server",
    "status_of",
    "unpack_detail",
    "wait_for_signal",
]
