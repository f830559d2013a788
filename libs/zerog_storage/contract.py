"""Flow contract encoding: submit calldata for both ABI generations and the Submit event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_abi.abi import decode, encode

from zerog_storage.hashing import keccak256
from zerog_storage.models import Transaction
from zerog_storage.submission import Submission, SubmissionData

__all__ = [
    "BATCH_SUBMIT_SELECTOR",
    "LEGACY_SUBMIT_SELECTOR",
    "PRICE_PER_SECTOR_SELECTOR",
    "SUBMIT_EVENT_TOPIC",
    "SUBMIT_SELECTOR",
    "SubmitEvent",
    "decode_submit_event",
    "encode_batch_submit",
    "encode_legacy_submit",
    "encode_submit",
    "encode_submit_event",
]

_DATA = "(uint256,bytes,(bytes32,uint256)[])"
_SUBMISSION = f"({_DATA},address)"


def _selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


SUBMIT_SELECTOR = _selector(f"submit({_SUBMISSION})")
BATCH_SUBMIT_SELECTOR = _selector(f"batchSubmit({_SUBMISSION}[])")
LEGACY_SUBMIT_SELECTOR = _selector(f"submit({_DATA})")
PRICE_PER_SECTOR_SELECTOR = _selector("pricePerSector()")
SUBMIT_EVENT_TOPIC = keccak256(f"Submit(address,bytes32,uint256,uint256,uint256,{_DATA})".encode())


def encode_submit(submission: Submission) -> bytes:
    """Calldata of submit(Submission) (current ABI, selector 0xbc8c11f8)."""
    return SUBMIT_SELECTOR + encode([_SUBMISSION], [submission.to_abi()])


def encode_batch_submit(submissions: Sequence[Submission]) -> bytes:
    """Calldata of batchSubmit(Submission[])."""
    return BATCH_SUBMIT_SELECTOR + encode([f"{_SUBMISSION}[]"], [[s.to_abi() for s in submissions]])


def encode_legacy_submit(data: SubmissionData) -> bytes:
    """Calldata of the pre-submitter ABI submit(SubmissionData) (0.3.3 deployments, 0xef3e12dc)."""
    return LEGACY_SUBMIT_SELECTOR + encode([_DATA], [data.to_abi()])


@dataclass(frozen=True, slots=True)
class SubmitEvent:
    """Flow's Submit event: sender = submission.submitter, length in sectors."""

    sender: str
    identity: bytes
    submission_index: int
    start_pos: int
    length: int
    submission: SubmissionData

    def to_transaction(self) -> Transaction:
        """The node's tx record for this event."""
        return Transaction(
            data_merkle_root=self.submission.root,
            merkle_nodes=tuple(self.submission.merkle_nodes()),
            start_entry_index=self.start_pos,
            size=self.submission.length,
            seq=self.submission_index,
        )


def _address_topic(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address.removeprefix("0x"))


def encode_submit_event(event: SubmitEvent) -> tuple[list[bytes], bytes]:
    """(topics, data) of a Submit log, as a devnet contract model emits it."""
    topics = [SUBMIT_EVENT_TOPIC, _address_topic(event.sender), event.identity]
    data = encode(
        ["uint256", "uint256", "uint256", _DATA],
        [event.submission_index, event.start_pos, event.length, event.submission.to_abi()],
    )
    return topics, data


def decode_submit_event(topics: Sequence[bytes], data: bytes) -> SubmitEvent:
    """Parse a Submit log; ValueError if it is another event."""
    if len(topics) != 3 or bytes(topics[0]) != SUBMIT_EVENT_TOPIC:
        raise ValueError("not a Flow Submit event")
    index, start, length, sub = decode(["uint256", "uint256", "uint256", _DATA], bytes(data))
    return SubmitEvent(
        sender="0x" + bytes(topics[1])[12:].hex(),
        identity=bytes(topics[2]),
        submission_index=index,
        start_pos=start,
        length=length,
        submission=SubmissionData.from_abi(sub),
    )
