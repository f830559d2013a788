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
from zerog_grpc.channels import balanced_target, service_channel
from zerog_grpc.clock import Clock, Monotonic, monotonic, utc_now
from zerog_grpc.errormap import KERNEL_ERRORS, ErrorMap, Failure, MapErrors, status
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
from zerog_grpc.interceptors import ServerMetrics
from zerog_grpc.jsonlog import JsonFormatter, setup_logging
from zerog_grpc.relay import relayed
from zerog_grpc.server import (
    Access,
    Rpcs,
    RunningServer,
    ServiceServer,
    start_metrics_server,
    start_server,
    wait_for_signal,
)
from zerog_grpc.service import ServiceSettings, run_service
from zerog_grpc.tracing import client_interceptors, setup_tracing
from zerog_grpc.validation import InvalidRequest, Problems

__all__ = [
    "ANY_SERVICE",
    "DOMAIN",
    "KERNEL_ERRORS",
    "Access",
    "AuthError",
    "AuthInterceptor",
    "Caller",
    "Clock",
    "ErrorMap",
    "Failure",
    "InvalidRequest",
    "JsonFormatter",
    "JwtVerifier",
    "MapErrors",
    "Monotonic",
    "Problems",
    "Rpcs",
    "RunningServer",
    "ServerMetrics",
    "ServiceServer",
    "ServiceSettings",
    "TokenMinter",
    "abort",
    "bad_request",
    "balanced_target",
    "client_interceptors",
    "current_caller",
    "error_info",
    "monotonic",
    "precondition_failure",
    "quota_failure",
    "relayed",
    "request_ids",
    "retry_info",
    "run_service",
    "service_channel",
    "setup_logging",
    "setup_tracing",
    "start_metrics_server",
    "start_server",
    "status",
    "status_of",
    "unpack_detail",
    "utc_now",
    "wait_for_signal",
]
