"""Conformance: the official 0G compute TS SDK (unchanged) uses a devnet provider end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account.signers.local import LocalAccount

from devnet import A0GI, Devnet
from devnet.paths import REPO_ROOT
from devnet.provider import ProviderProcess
from tests.devnet.provider.provider_helpers import fee_of

SCRIPT = Path(__file__).with_name("compute_sdk_flow.mjs")

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node 20 (node)")


def _run_sdk(net: Devnet, account: LocalAccount, provider: ProviderProcess) -> dict[str, Any]:
    env = {
        **os.environ,
        "RPC_URL": net.state.rpc_url,
        "PRIVATE_KEY": "0x" + bytes(account.key).hex(),
        "LEDGER": net.state.contracts.ledger_manager,
        "INFERENCE": net.state.contracts.inference_serving,
        "PROVIDER": provider.provider,
    }
    done = subprocess.run(
        ["node", str(SCRIPT)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_sdk_flow_verifies_the_response_and_fees_settle_on_chain(
    running_devnet: Devnet, funded_account: LocalAccount, devnet_provider: ProviderProcess
) -> None:
    result = _run_sdk(running_devnet, funded_account, devnet_provider)

    assert result["ledgerTotal"] == str(10 * A0GI)
    assert result["listed"] and result["serviceUrl"] == devnet_provider.url
    assert result["endpoint"] == f"{devnet_provider.url}/v1/proxy"
    assert result["status"] == 200 and result["content"]
    assert result["valid"] is True  # processResponse checked the TEE signature
    fee = fee_of(result["usage"], 1_000_000_000, 2_000_000_000)
    unsettled_url = f"{devnet_provider.url}/v1/user/{funded_account.address}/unsettledfee"
    funded_before = int(result["accountBalance"])

    outcomes = [o for o in devnet_provider.settle() if o["user"] == funded_account.address]

    assert [(o["status"], int(o["settled"])) for o in outcomes] == [("SUCCESS", fee)]
    inference = running_devnet.contracts().inference
    account = inference.functions.getAccount(funded_account.address, devnet_provider.provider)
    assert account.call()[3] == funded_before - fee
    assert httpx.get(unsettled_url).status_code == 400  # Bearer auth required
