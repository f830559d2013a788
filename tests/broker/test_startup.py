"""The broker refuses to start, with a clear message, when the RPC serves another chain than the
profile names or does not answer at all, before serving anything."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from devnet import Devnet
from services.broker import server
from tests.broker.conftest import broker_config
from tests.support import auth_env
from zerog_chain import ChainUnavailable
from zerog_db import create_pool

ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_wrong_chain_id_refuses_to_start(
    running_devnet: Devnet, broker_db_url: str, funded_account: LocalAccount
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": broker_db_url,
        **auth_env("broker"),
        "ZG_NETWORK": "testnet",  # chain id 16602; the devnet is 31337
        "ZG_RPC_URL": running_devnet.state.rpc_url,
        "ZG_PRIVATE_KEY": "0x" + bytes(funded_account.key).hex(),
        "PORT": str(_free_port()),
        "METRICS_PORT": str(_free_port()),
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.broker", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "broker: cannot start: network testnet expects chain id 16602, "
        f"the RPC reports {running_devnet.state.chain_id}"
    ), done.stderr
    assert "Traceback" not in done.stderr
    assert bytes(funded_account.key).hex() not in done.stderr + done.stdout


async def test_a_chain_rpc_that_never_answers_fails_start_up_with_a_clear_error(
    running_devnet: Devnet, broker_db_url: str, funded_account: LocalAccount, silent_rpc: str
) -> None:
    config = broker_config(
        running_devnet,
        broker_db_url,
        funded_account,
        ZG_RPC_URL=silent_rpc,
        ZG_RPC_TIMEOUT_SECONDS="1",
        STARTUP_TIMEOUT_SECONDS="2",
    )
    pool = await create_pool(broker_db_url, search_path="broker")
    try:
        # The outer deadline only keeps a regression from hanging the run; the assertion is on
        # the error start-up raises on its own.
        async with asyncio.timeout(60):
            with pytest.raises(ChainUnavailable) as failed:
                await server.start(pool, config, "127.0.0.1:0")
    finally:
        await pool.close()
    assert str(failed.value) == (
        f"the chain RPC at {silent_rpc} did not answer eth_chainId within 2.0 s"
    )
