"""The storage client library alone against devnet nodes, paying with real Flow transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint, TxParams, Wei

from devnet import A0GI, Devnet
from devnet.deploy import Transactor
from devnet.storage_node import NodeOptions, StorageNetwork, start_storage_network
from zerog_storage import (
    SUBMIT_EVENT_TOPIC,
    NodeSet,
    Submission,
    SubmissionData,
    SubmitResult,
    UploadOptions,
    decode_submit_event,
    encode_submit,
)

FAST = UploadOptions(poll_interval=0.05, tx_timeout=60.0, finality_timeout=60.0)


@dataclass
class ChainSubmitter:
    """A Submitter that pays on the devnet Flow from its own funded key: every submit is a real
    mined transaction. Like the broker it replays a known request_id instead of paying again;
    `calls` counts every submit the uploader asked for, `sent` the transactions sent."""

    transactor: Transactor
    flow: str
    price_per_sector: int
    paid: dict[str, SubmitResult] = field(default_factory=dict)
    calls: int = 0
    sent: int = 0

    async def submit(
        self, request_id: str, submission: SubmissionData, max_fee: int | None
    ) -> SubmitResult:
        """Send the Flow submit (or replay it) and return its submission index once mined."""
        self.calls += 1
        if request_id in self.paid:
            return replace(self.paid[request_id], replayed=True)
        fee = submission.fee(self.price_per_sector)
        if max_fee is not None and fee > max_fee:
            raise ValueError(f"fee {fee} exceeds max_fee {max_fee}")
        sender = self.transactor.account.address
        tx: TxParams = {
            "to": Web3.to_checksum_address(self.flow),
            "data": encode_submit(Submission(submission, sender)),
            "value": Wei(fee),
        }
        receipt = await asyncio.to_thread(self.transactor.send, tx)
        self.sent += 1
        events = [
            decode_submit_event(log["topics"], log["data"])
            for log in receipt["logs"]
            if log["topics"] and bytes(log["topics"][0]) == SUBMIT_EVENT_TOPIC
        ]
        assert len(events) == 1, "one Submit event per submit"
        result = SubmitResult(
            events[0].submission_index, receipt["transactionHash"].to_0x_hex(), fee
        )
        self.paid[request_id] = result
        return result


def submit_events(w3: Web3, flow: str, identity: bytes) -> int:
    """Submit events on chain for one submission identity (root + length)."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(flow),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": ["0x" + SUBMIT_EVENT_TOPIC.hex(), None, "0x" + identity.hex()],
        }
    )
    return len(logs)


@pytest.fixture
def submitter(running_devnet: Devnet, devnet_w3: Web3) -> ChainSubmitter:
    """A chain submitter with a fresh funded key (its own nonce)."""
    account: LocalAccount = Account.create()
    devnet_w3.provider.make_request(
        RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)]
    )
    state = running_devnet.state
    return ChainSubmitter(
        Transactor(devnet_w3, account), state.contracts.flow, state.price_per_sector
    )


@pytest.fixture(scope="module")
def mixed_network(running_devnet: Devnet) -> Iterator[StorageNetwork]:
    """Three nodes: one holding every shard and two holding half each (0/2, 1/2), and an
    indexer trusting them all. Tests store fresh random bytes, so what they break is theirs."""
    shards = (
        NodeOptions(),
        NodeOptions(shard_id=0, num_shard=2),
        NodeOptions(shard_id=1, num_shard=2),
    )
    network = start_storage_network(running_devnet.state, shards)
    yield network
    network.stop()


@pytest.fixture
async def mixed_nodes(mixed_network: StorageNetwork) -> AsyncIterator[NodeSet]:
    """A node set over the mixed network's URLs; faults are switched off again afterwards."""
    nodes = NodeSet([n.url for n in mixed_network.nodes])
    yield nodes
    await nodes.aclose()
    for node in mixed_network.nodes:
        node.set_faults(outage=False, hold_writes=False)
