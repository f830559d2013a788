"""The table deploy/k8s/base is rendered from: each service's env, secrets, callers, egress."""

from __future__ import annotations

from dataclasses import dataclass, field

GRPC_PORT = 50051
METRICS_PORT = 9464
# Inference's OpenAI-compatible endpoint (services/inference/openai_http.py).
HTTP_PORT = 8080
SECRETS_DIR = "/run/secrets/zerog"
# Shutting down: the preStop hook waits PRESTOP_SECONDS while endpoints and DNS drop the pod;
# on SIGTERM the service reports NOT_SERVING for SHUTDOWN_DELAY_SECONDS (clients and probes
# see it), then drains calls for SHUTDOWN_GRACE_SECONDS. The pod's grace period outlasts all
# three, so in-flight calls finish before SIGKILL (tools/k8s_validate checks the sum).
PRESTOP_SECONDS = 5
SHUTDOWN_DELAY_SECONDS = 5
SHUTDOWN_GRACE_SECONDS = 20
TERMINATION_GRACE_SECONDS = 40

# Values every service reads (ConfigMap zerog-common).
COMMON_ENV = {
    "LOG_LEVEL": "INFO",
    "SHUTDOWN_GRACE_SECONDS": str(SHUTDOWN_GRACE_SECONDS),
    "SHUTDOWN_DELAY_SECONDS": str(SHUTDOWN_DELAY_SECONDS),
    # Each service's migration Job applies migrations; `serve` only serves.
    "MIGRATE_ON_START": "false",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4317",
}

# Where traffic leaves the cluster: port lists per kind of external peer.
EGRESS_PORTS = {
    "chain-rpc": [443, 8545],
    "providers": [443, 80, 8080],
    "storage-nodes": [443, 5678, 6789],
    "webhooks": [443, 80],
    "smtp": [25, 465, 587],
}


@dataclass(frozen=True)
class SecretFile:
    """A Secret key mounted as a file and named by a *_FILE variable."""

    variable: str  # e.g. DATABASE_URL, read as DATABASE_URL_FILE
    secret: str  # Secret object name
    key: str


@dataclass(frozen=True)
class Service:
    """How one service runs in Kubernetes."""

    name: str
    grpc_service: str
    env: dict[str, str]
    secrets: list[SecretFile]
    callers: list[str]  # zerog services allowed to call it (clients are always allowed)
    calls: list[str]  # zerog services it calls
    egress: list[str] = field(default_factory=list)  # keys of EGRESS_PORTS
    min_replicas: int = 2
    max_replicas: int = 6
    http_port: int = 0  # a plain-HTTP port it also serves to clients (set as HTTP_PORT), or 0


def _db(svc: str) -> SecretFile:
    # One Postgres role per service, so a service cannot reach another's schema.
    return SecretFile("DATABASE_URL", f"zerog-{svc}-database", "database_url")


# The public keys every service checks tokens with (docs/auth.md): not secret, but mounted the
# same way, so an updated Secret reaches running pods (they re-read it) without a restart.
AUTH = SecretFile("AUTH_JWKS", "zerog-jwks", "jwks.json")


def _signing_key(svc: str) -> SecretFile:
    # Only a service that calls others holds a private key, and only its own.
    return SecretFile("AUTH_SIGNING_KEY", f"zerog-{svc}-auth-key", "auth_signing_key")


# Headless Services: each name resolves to every ready pod, which zerog_grpc.channels balances.
ADDRESSES = {s: f"{s}:{GRPC_PORT}" for s in ("quota", "broker", "inference", "storage")}
CHAIN_ENV = {"ZG_NETWORK": "testnet", "ZG_RPC_URL": "https://evmrpc-testnet.0g.ai"}

SERVICES = [
    Service(
        "quota",
        "zerog.quota.v1.QuotaService",
        env={},
        secrets=[_db("quota"), AUTH],
        callers=["inference", "storage", "scheduler"],
        calls=[],
    ),
    Service(
        "broker",
        "zerog.broker.v1.BrokerService",
        env={**CHAIN_ENV},
        secrets=[
            _db("broker"),
            AUTH,
            SecretFile("ZG_PRIVATE_KEY", "zerog-broker-wallet", "zg_private_key"),
        ],
        callers=["inference", "storage"],
        calls=[],
        egress=["chain-rpc", "providers"],
    ),
    Service(
        "storage",
        "zerog.storage.v1.StorageService",
        env={
            **CHAIN_ENV,
            "STORAGE_INDEXER_URL": "https://indexer-storage-testnet-turbo.0g.ai",
            "BROKER_ADDRESS": ADDRESSES["broker"],
            "QUOTA_ADDRESS": ADDRESSES["quota"],
        },
        secrets=[
            _db("storage"),
            AUTH,
            _signing_key("storage"),
            SecretFile("STORAGE_MASTER_KEY", "zerog-storage-master-key", "storage_master_key"),
        ],
        callers=["inference", "scheduler"],
        calls=["broker", "quota"],
        egress=["chain-rpc", "storage-nodes"],
    ),
    Service(
        "inference",
        "zerog.inference.v1.InferenceService",
        env={
            "BROKER_ADDRESS": ADDRESSES["broker"],
            "QUOTA_ADDRESS": ADDRESSES["quota"],
            "STORAGE_ADDRESS": ADDRESSES["storage"],
            "HTTP_PORT": str(HTTP_PORT),
        },
        secrets=[_db("inference"), AUTH, _signing_key("inference")],
        callers=["scheduler"],
        calls=["broker", "quota", "storage"],
        egress=["providers"],
        http_port=HTTP_PORT,
    ),
    Service(
        "scheduler",
        "zerog.scheduler.v1.SchedulerService",
        env={
            "INFERENCE_ADDRESS": ADDRESSES["inference"],
            "QUOTA_ADDRESS": ADDRESSES["quota"],
            # Summaries are kept on 0G Storage (the ai-summaries namespace).
            "STORAGE_ADDRESS": ADDRESSES["storage"],
        },
        secrets=[_db("scheduler"), AUTH, _signing_key("scheduler")],
        callers=[],
        calls=["inference", "quota", "storage"],
        egress=["webhooks", "smtp"],
    ),
]
