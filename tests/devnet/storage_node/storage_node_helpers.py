"""Helpers for storage node tests: submit a file on the devnet Flow, wait for the node, payloads."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams, Wei

from devnet.deploy import Transactor
from zerog_storage import (
    FileInfo,
    FileMerkleTree,
    RpcError,
    SegmentWithProof,
    StorageNodeClient,
    Submission,
    encode_submit,
    verify_segment_with_proof,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Submitted:
    """A file whose Flow submission is mined."""

    data: bytes
    tree: FileMerkleTree
    block: int

    @property
    def root(self) -> bytes:
        return self.tree.root

    def segments(self) -> list[SegmentWithProof]:
        return list(self.tree.segments_from_bytes(self.data))


def random_file(size: int) -> bytes:
    return os.urandom(size)


def submit(w3: Web3, account: LocalAccount, flow: str, price: int, data: bytes) -> Submitted:
    """Pay for `data` on the Flow contract at `flow`, as the SDKs do (fee = sectors x price)."""
    tree = FileMerkleTree.from_bytes(data)
    submission = tree.submission()
    tx: TxParams = {
        "to": Web3.to_checksum_address(flow),
        "data": encode_submit(Submission(submission, account.address)),
        "value": Wei(submission.fee(price)),
    }
    receipt = Transactor(w3, account).send(tx)
    return Submitted(data, tree, receipt["blockNumber"])


async def eventually(probe: Callable[[], Awaitable[T | None]], attempts: int = 400) -> T:
    """Poll `probe` until it returns something truthy (bounded; never a timing assertion)."""
    for _ in range(attempts):
        value = await probe()
        if value:
            return value
        await asyncio.sleep(0.025)
    raise AssertionError("the node never got there")


async def synced_info(client: StorageNodeClient, root: bytes) -> FileInfo:
    """The node's FileInfo once its log sync has seen the tx."""
    return await eventually(lambda: client.get_file_info(root, True))


async def rpc_error(call: Awaitable[Any]) -> RpcError:
    """The RpcError a call raises (the test fails if it succeeds)."""
    try:
        await call
    except RpcError as e:
        return e
    raise AssertionError("the node accepted it")


async def download_verified(client: StorageNodeClient, root: bytes, size: int) -> bytes:
    """Every data segment with its proof, each checked against the expected root; the file."""
    out = bytearray()
    index = 0
    while len(out) < size:
        segment = await client.download_segment_with_proof(root, index)
        assert segment is not None, f"segment {index} missing"
        verify_segment_with_proof(segment, root, size)
        out += segment.data
        index += 1
    return bytes(out[:size])


def raw_call(url: str, body: Any) -> Any:
    """POST a raw JSON-RPC body (single or batch) and return the decoded answer."""
    response = httpx.post(url, json=body, timeout=10.0)
    assert response.status_code == 200
    return response.json()
