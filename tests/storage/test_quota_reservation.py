"""A put's quota reservation lasts as long as the put may: its bytes stay held until the commit."""

from __future__ import annotations

import uuid

import pytest

from devnet.storage_node import StorageNetwork
from services.storage.config import Config
from tests.storage.conftest import StartStorage
from tests.storage.helpers import content, create_namespace, namespace_name, put
from tests.support import JWT_SECRET
from zerog_grpc.settings import ConfigError

BASE = {
    "DATABASE_URL": "postgresql://x/y",
    "AUTH_JWT_SECRET": JWT_SECRET,
    "STORAGE_NODES": "http://127.0.0.1:1",
}


def test_reservation_ttl_covers_the_put_deadline_unless_set() -> None:
    derived = Config.from_env(BASE)
    # Submission 180 s, tx wait 120 s, sending 120 s, finality 300 s.
    assert derived.reservation_ttl() == 720
    longer = Config.from_env(
        {**BASE, "UPLOAD_TX_TIMEOUT_SECONDS": "600", "UPLOAD_FINALITY_TIMEOUT_SECONDS": "900"}
    )
    assert longer.reservation_ttl() >= 600 + 900
    assert Config.from_env({**BASE, "QUOTA_RESERVATION_TTL_SECONDS": "2"}).reservation_ttl() == 2
    with pytest.raises(ConfigError, match="QUOTA_RESERVATION_TTL_SECONDS"):
        Config.from_env({**BASE, "QUOTA_RESERVATION_TTL_SECONDS": "3601"})


async def test_a_put_reserves_its_bytes_for_the_whole_upload_deadline(
    storage_network: StorageNetwork, start_storage: StartStorage
) -> None:
    storage = await start_storage([n.url for n in storage_network.nodes])
    user = f"owner-{uuid.uuid4().hex[:8]}"
    ns = (await create_namespace(storage, namespace_name("ttl"), user=user)).name
    await put(storage, ns, "doc", content(2000), user=user)

    row = await storage.quota.pool.fetchrow(
        "SELECT expires_at - created_at AS ttl, state FROM reservations"
        " WHERE subject = $1 AND operation = 'storage.put'",
        f"user:{user}",
    )
    assert row is not None and row["state"] == "committed"
    # Quota's default (60 s) is shorter than the tx and finality waits alone.
    waits = storage.config.tx_timeout_seconds + storage.config.finality_timeout_seconds
    assert row["ttl"].total_seconds() >= waits
    assert row["ttl"].total_seconds() == storage.config.reservation_ttl()
