"""Flow submissions: SubmissionData as the SDKs build it, its root, identity, fee and validity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from zerog_storage._hex import from_hex, hash_from_hex, to_hex
from zerog_storage.errors import InvalidSubmission, NotEnoughFee
from zerog_storage.hashing import fold_root, keccak256
from zerog_storage.layout import CHUNK_SIZE

__all__ = [
    "ZERO_ADDRESS",
    "Submission",
    "SubmissionData",
    "SubmissionNode",
    "check_submission",
    "fee_sectors",
    "nodes_to_root",
    "storage_fee",
    "submission_identity",
]

ZERO_ADDRESS = "0x" + "00" * 20
# The contract bounds: a node's height fits 2**64 sectors and nodes span under 4 heights.
_MAX_HEIGHT = 64
_MAX_HEIGHT_SPAN = 4


@dataclass(frozen=True, slots=True)
class SubmissionNode:
    """One power-of-two subtree of the flow-padded file: its root and log2(chunks)."""

    root: bytes
    height: int

    @property
    def sectors(self) -> int:
        """Chunks (sectors) this node covers."""
        return 1 << self.height

    def to_json(self) -> dict[str, Any]:
        """{root, height} as in the SDK vectors."""
        return {"root": to_hex(self.root), "height": self.height}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SubmissionNode:
        """Parse {root, height}."""
        return cls(hash_from_hex(obj["root"]), int(obj["height"]))


def nodes_to_root(nodes: Sequence[SubmissionNode]) -> bytes:
    """The file root (dataMerkleRoot): right fold over node roots, as the node computes it."""
    return fold_root([n.root for n in nodes])


def submission_identity(nodes: Sequence[SubmissionNode]) -> bytes:
    """The Submit event's identity topic: keccak256(abi.encodePacked(node roots))."""
    return keccak256(b"".join(n.root for n in nodes))


def fee_sectors(nodes: Sequence[SubmissionNode]) -> int:
    """Sectors charged: sum of 2**height over nodes (the flow-padded chunk count)."""
    return sum(n.sectors for n in nodes)


def storage_fee(nodes: Sequence[SubmissionNode], price_per_sector: int) -> int:
    """Fee in neuron paid as msg.value: sectors x market.pricePerSector()."""
    return fee_sectors(nodes) * price_per_sector


@dataclass(frozen=True, slots=True)
class SubmissionData:
    """SubmissionData{length (bytes), tags, nodes}: the payload of Flow.submit."""

    length: int
    tags: bytes
    nodes: tuple[SubmissionNode, ...]

    @property
    def root(self) -> bytes:
        """The file root these nodes fold to."""
        return nodes_to_root(self.nodes)

    @property
    def identity(self) -> bytes:
        """keccak256 of the packed node roots."""
        return submission_identity(self.nodes)

    @property
    def sectors(self) -> int:
        """Sectors charged for this submission."""
        return fee_sectors(self.nodes)

    def fee(self, price_per_sector: int) -> int:
        """Fee in neuron at `price_per_sector`."""
        return self.sectors * price_per_sector

    def merkle_nodes(self) -> list[tuple[int, bytes]]:
        """The node's tx.merkleNodes: (depth = height + 1, root)."""
        return [(n.height + 1, n.root) for n in self.nodes]

    def to_abi(self) -> tuple[int, bytes, list[tuple[bytes, int]]]:
        """The (uint256, bytes, (bytes32, uint256)[]) tuple for eth-abi and web3."""
        return (self.length, self.tags, [(n.root, n.height) for n in self.nodes])

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> SubmissionData:
        """Parse the decoded ABI tuple."""
        length, tags, nodes = value
        return cls(
            int(length), bytes(tags), tuple(SubmissionNode(bytes(r), int(h)) for r, h in nodes)
        )

    def to_json(self) -> dict[str, Any]:
        """{length, tags: 0x-hex, nodes: [{root, height}]} as in the SDK vectors."""
        return {
            "length": self.length,
            "tags": to_hex(self.tags),
            "nodes": [n.to_json() for n in self.nodes],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SubmissionData:
        """Parse the vector / JSON shape."""
        return cls(
            int(obj["length"]),
            from_hex(obj.get("tags", "0x")),
            tuple(SubmissionNode.from_json(n) for n in obj["nodes"]),
        )


@dataclass(frozen=True, slots=True)
class Submission:
    """Submission{data, submitter}: the current Flow ABI (selector 0xbc8c11f8)."""

    data: SubmissionData
    submitter: str

    def to_abi(self) -> tuple[tuple[int, bytes, list[tuple[bytes, int]]], str]:
        """The ((uint256, bytes, (bytes32, uint256)[]), address) tuple."""
        return (self.data.to_abi(), self.submitter)


def _validity_problem(data: SubmissionData, submitter: str) -> str | None:
    if int(submitter, 16) == 0:
        return "submitter is the zero address"
    nodes = data.nodes
    if not nodes:
        return "no nodes"
    heights = [n.height for n in nodes]
    if any(a <= b for a, b in pairwise(heights)):
        return "node heights are not strictly decreasing"
    if heights[0] - heights[-1] >= _MAX_HEIGHT_SPAN:
        return "node heights span 4 or more"
    if heights[0] >= _MAX_HEIGHT or heights[-1] < 0:
        return "node height out of range"
    cap = fee_sectors(nodes)
    if data.length > cap * CHUNK_SIZE:
        return f"length {data.length} exceeds {cap} sectors"
    if cap < 16:
        last_cap = cap - 1
    elif len(nodes) == 1:
        last_cap = cap - cap // 16
    else:
        last_cap = cap - (1 << (heights[0] - 3))
    if data.length <= last_cap * CHUNK_SIZE:
        return f"length {data.length} fits {last_cap} sectors: excess padding"
    return None


def check_submission(
    submission: Submission, *, price_per_sector: int | None = None, paid: int | None = None
) -> None:
    """Apply Flow.submit's checks: InvalidSubmission, then NotEnoughFee when a price is given."""
    problem = _validity_problem(submission.data, submission.submitter)
    if problem is not None:
        raise InvalidSubmission(problem)
    if price_per_sector is not None:
        fee = submission.data.fee(price_per_sector)
        if fee > (paid or 0):
            raise NotEnoughFee(price_per_sector, submission.data.sectors, paid or 0)
