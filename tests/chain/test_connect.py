"""connect() against the real devnet: chain calls cancelled half-way (a broker stopping with its
background refreshes in flight) never leave a later connect waiting, and an RPC that accepts
connections but never answers fails the connect with a clear error instead of hanging."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from web3 import AsyncWeb3

from devnet import Devnet
from zerog_chain import ChainUnavailable, connect, network_profile


async def test_cancelled_chain_calls_never_block_a_later_connect(running_devnet: Devnet) -> None:
    profile = network_profile("devnet", running_devnet.config.state_path)
    rpc = running_devnet.state.rpc_url
    chance = random.Random(7)
    for _ in range(30):
        connections: list[AsyncWeb3[Any]] = [await connect(profile, rpc) for _ in range(3)]
        # Concurrent reads cancelled at arbitrary points, as stopping a broker cancels its
        # provider refresh and settlement sync mid-call.
        calls = [asyncio.create_task(w3.eth.block_number) for w3 in connections for _ in range(4)]
        await asyncio.sleep(chance.random() * 0.004)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        for w3 in connections:
            await w3.provider.disconnect()
        # A wait with a deadline, so a connect left waiting fails the test instead of hanging it.
        async with asyncio.timeout(30):
            fresh = await connect(profile, rpc)
        assert await fresh.eth.chain_id == running_devnet.state.chain_id
        await fresh.provider.disconnect()


async def test_an_rpc_that_never_answers_fails_connect_with_a_clear_error(
    running_devnet: Devnet, silent_rpc: str
) -> None:
    profile = network_profile("devnet", running_devnet.config.state_path)
    # The outer deadline only keeps a regression from hanging the run; the assertion is on the
    # error connect raises on its own.
    async with asyncio.timeout(60):
        with pytest.raises(ChainUnavailable) as failed:
            await connect(profile, silent_rpc, rpc_timeout=1.0, deadline=2.0)
    assert str(failed.value) == (
        f"the chain RPC at {silent_rpc} did not answer eth_chainId within 2.0 s"
    )
