"""Errors of the 0G storage client (uploads, downloads, replicas), under StorageProtocolError.

StorageClientError
├── NodesUnavailable      no storage node answered (or too few did): retry later
├── NotEnoughReplicas     the reachable nodes cannot hold the replicas asked for
├── TxMismatch            a node's tx for the seq has another root or size than the file
├── UploadIncomplete      nodes did not see the tx or finalize it in time: retry resumes
└── DataLost              no replica served a segment that proves against the root
"""

from __future__ import annotations

from collections.abc import Mapping

from zerog_storage._hex import to_hex
from zerog_storage.errors import StorageProtocolError

__all__ = [
    "DataLost",
    "NodesUnavailable",
    "NotEnoughReplicas",
    "StorageClientError",
    "TxMismatch",
    "UploadIncomplete",
]


class StorageClientError(StorageProtocolError):
    """Root of the client's errors."""


class NodesUnavailable(StorageClientError):
    """No storage node (or not the ones needed) could be reached."""


class NotEnoughReplicas(StorageClientError):
    """Fewer replicas are possible on the reachable nodes than asked for."""

    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f"{wanted} replicas wanted, the reachable nodes hold at most {available}")
        self.wanted = wanted
        self.available = available


class TxMismatch(StorageClientError):
    """The tx a node knows under a seq is not this file's."""


class UploadIncomplete(StorageClientError):
    """A wait ran out: the tx was not seen or not finalized on every target node."""


class DataLost(StorageClientError):
    """No node served segment `segment` of `root` with a valid proof; `reasons` per node URL."""

    def __init__(self, root: bytes, segment: int, reasons: Mapping[str, str]) -> None:
        detail = "; ".join(f"{url}: {why}" for url, why in reasons.items()) or "no node holds it"
        super().__init__(f"segment {segment} of {to_hex(root)} unavailable: {detail}")
        self.root = root
        self.segment = segment
        self.reasons = dict(reasons)
