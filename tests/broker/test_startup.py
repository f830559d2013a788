"""`python -m services.broker` refuses to start when the RPC serves another chain than the
profile names: a clear message and a non-zero exit, before serving anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from eth_account.signers.local import LocalAccount

from devnet import Devnet
from tests.support import JWT_SECRET

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
        "AUTH_JWT_SECRET": JWT_SECRET,
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
