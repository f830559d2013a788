"""Storage's settings, read once from the environment and validated at start."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.storage.policy import DEFAULT_ALLOW
from zerog_grpc import ServiceSettings
from zerog_grpc.settings import ConfigError, Env
from zerog_storage.at_rest import KEY_SIZE

# 10 MiB: also the largest file a 0G node caches before it has seen the tx.
DEFAULT_MAX_OBJECT_BYTES = 10 * 1024 * 1024
# What a put may spend besides its tx and finality waits: the broker's submission (its call
# timeout in remote.py) and sending the segments. Quota holds a reservation for at most an hour.
PUT_SUBMIT_SECONDS = 180.0
PUT_SEND_SECONDS = 120.0
QUOTA_MAX_TTL_SECONDS = 3600.0


def _urls(raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"STORAGE_NODES: {url!r} is not an http(s) URL")
    return urls


def _devnet_defaults(env: Env) -> dict[str, str]:
    """STORAGE_NODES, STORAGE_INDEXER_URL and ZG_RPC_URL as the devnet state file names them.

    Only in the devnet profile (ZG_NETWORK=devnet with DEVNET_STATE); variables that are set
    win. The file is read as the JSON it is (devnet/README.md documents it): a service never
    imports the devnet's code.
    """
    network = env.text("ZG_NETWORK", "devnet")
    if network not in ("devnet", "testnet", "mainnet"):
        raise ConfigError(f"ZG_NETWORK must be devnet, testnet or mainnet, got {network!r}")
    path = env.values.get("DEVNET_STATE") or ""
    if network != "devnet" or not path:
        return {}
    try:
        state = json.loads(Path(path).read_text())
        published = state.get("services", {}).get("storage", {})
        nodes = published.get("nodes")
        indexer = published.get("indexer")
        rpc_url = str(state["rpc_url"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"DEVNET_STATE {path!r} is not a readable devnet state file") from error
    listed = nodes if isinstance(nodes, list) else []
    node_urls = [str(n["url"]) for n in listed if isinstance(n, dict) and n.get("url")]
    return {
        "STORAGE_NODES": ",".join(node_urls),
        "STORAGE_INDEXER_URL": indexer if isinstance(indexer, str) else "",
        "ZG_RPC_URL": rpc_url,
    }


def _master_key(env: Env) -> bytes:
    raw = env.secret("STORAGE_MASTER_KEY").removeprefix("0x")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != KEY_SIZE:
        raise ConfigError(f"STORAGE_MASTER_KEY must be {KEY_SIZE} bytes as hex")
    return key


@dataclass(frozen=True)
class Config(ServiceSettings):
    """Everything storage reads from its environment."""

    node_urls: tuple[str, ...] = ()
    indexer_url: str = ""
    broker_address: str = ""
    quota_address: str = ""
    rpc_url: str = ""
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES
    default_replicas: int = 1
    max_replicas: int = 8
    temp_dir: Path = Path("/tmp/zerog-storage")
    get_chunk_bytes: int = 256 * 1024
    poll_seconds: float = 0.5
    tx_timeout_seconds: float = 120.0
    finality_timeout_seconds: float = 300.0
    quota_reservation_ttl_seconds: float = 0.0
    """How long quota holds a put's bytes; 0 means derived from the put's deadline
    (reservation_ttl())."""
    rate_permits: int = 20
    """Rate permits of a namespace owner asked from quota at a time (quota grants one at a time
    when a limit has little left); 0 turns PutObject's rate limits off."""
    rate_hold_seconds: float = 5.0
    """How long a replica may use permits it holds before it gives the rest back."""
    poll_max_seconds: float = 5.0
    """Upload polls back off from poll_seconds, doubling with jitter, up to this."""
    breaker_fail_max: int = 5
    """Consecutive transport failures that open a storage node's (or the chain RPC's) breaker."""
    breaker_cool_down_seconds: float = 30.0
    """How long an open breaker refuses calls before one trial call."""
    verify_period_seconds: float = 3600.0
    """How often verification and retention run across all replicas (0: never)."""
    verify_batch: int = 1000
    """The most contents one scheduled verification pass checks."""
    master_key: bytes = field(default=b"", repr=False)
    """Wraps every namespace's data key (STORAGE_MASTER_KEY[_FILE], 32 bytes as hex)."""
    upload_lease_seconds: float = 30.0
    """How soon another replica may take over an upload whose replica died (a live one renews
    its claim every third of this)."""

    def reservation_ttl(self) -> float:
        """The quota reservation's TTL: as set, else as long as a put may take (submission, tx
        wait, sending, finality: 12 minutes with the defaults), at most quota's hour. A commit
        after it is still billed (flagged late); the TTL only keeps the budget held meanwhile."""
        if self.quota_reservation_ttl_seconds:
            return self.quota_reservation_ttl_seconds
        put = (
            PUT_SUBMIT_SECONDS
            + self.tx_timeout_seconds
            + PUT_SEND_SECONDS
            + self.finality_timeout_seconds
        )
        return min(put, QUOTA_MAX_TTL_SECONDS)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        values = dict(environ)
        for name, value in _devnet_defaults(Env(environ)).items():
            values[name] = values.get(name) or value
        env = Env(values)
        config = cls(
            **ServiceSettings.read(
                env,
                audience="storage",
                allow=DEFAULT_ALLOW,
                port=50054,
                # Paying through the broker and reserving with quota needs its own signing key.
                signs=bool(env.values.get("BROKER_ADDRESS") or env.values.get("QUOTA_ADDRESS")),
            ),
            node_urls=_urls(env.text("STORAGE_NODES", "")),
            indexer_url=env.text("STORAGE_INDEXER_URL", ""),
            broker_address=env.text("BROKER_ADDRESS", ""),
            quota_address=env.text("QUOTA_ADDRESS", ""),
            rpc_url=env.text("ZG_RPC_URL", ""),
            max_object_bytes=env.integer(
                "MAX_OBJECT_BYTES", DEFAULT_MAX_OBJECT_BYTES, minimum=1, maximum=1 << 30
            ),
            default_replicas=env.integer("DEFAULT_REPLICAS", 1, minimum=1, maximum=64),
            max_replicas=env.integer("MAX_REPLICAS", 8, minimum=1, maximum=64),
            temp_dir=Path(env.text("STORAGE_TEMP_DIR", "/tmp/zerog-storage")),
            get_chunk_bytes=env.integer("GET_CHUNK_BYTES", 256 * 1024, minimum=1024),
            poll_seconds=env.number("UPLOAD_POLL_SECONDS", 0.5, minimum=0.01),
            tx_timeout_seconds=env.number("UPLOAD_TX_TIMEOUT_SECONDS", 120.0, minimum=1.0),
            finality_timeout_seconds=env.number(
                "UPLOAD_FINALITY_TIMEOUT_SECONDS", 300.0, minimum=1.0
            ),
            quota_reservation_ttl_seconds=env.number("QUOTA_RESERVATION_TTL_SECONDS", 0.0),
            rate_permits=env.integer("RATE_PERMITS", 20, minimum=0),
            rate_hold_seconds=env.number("RATE_HOLD_SECONDS", 5.0, minimum=0.1, maximum=60.0),
            upload_lease_seconds=env.number("UPLOAD_LEASE_SECONDS", 30.0, minimum=1.0),
            master_key=_master_key(env),
            poll_max_seconds=env.number("UPLOAD_POLL_MAX_SECONDS", 5.0, minimum=0.01),
            breaker_fail_max=env.integer("NODE_BREAKER_FAIL_MAX", 5, minimum=1),
            breaker_cool_down_seconds=env.number(
                "NODE_BREAKER_COOL_DOWN_SECONDS", 30.0, minimum=0.1
            ),
            verify_period_seconds=env.number("VERIFY_PERIOD_SECONDS", 3600.0, minimum=0.0),
            verify_batch=env.integer("VERIFY_BATCH", 1000, minimum=1),
        )
        if not config.node_urls and not config.indexer_url:
            raise ConfigError("STORAGE_NODES or STORAGE_INDEXER_URL is required")
        if config.default_replicas > config.max_replicas:
            raise ConfigError("DEFAULT_REPLICAS must not exceed MAX_REPLICAS")
        if not 0 <= config.quota_reservation_ttl_seconds <= QUOTA_MAX_TTL_SECONDS:
            raise ConfigError(
                f"QUOTA_RESERVATION_TTL_SECONDS must be 0 (derived) to {QUOTA_MAX_TTL_SECONDS:.0f}"
            )
        return config
