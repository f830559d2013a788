"""Calls to other services: quota reservations for bytes and Flow payments via the broker."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from google.protobuf.duration_pb2 import Duration

from services.storage.config import PUT_SUBMIT_SECONDS
from zerog.broker.v1 import broker_service_pb2 as broker_pb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2 as quota_pb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog_grpc import TokenMinter
from zerog_storage import SubmissionData, SubmitResult

if TYPE_CHECKING:
    from zerog.broker.v1.broker_service_pb2_grpc import BrokerServiceAsyncStub
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub

# Flow payments wait for a mined receipt in the broker; quota answers fast.
_SUBMIT_TIMEOUT = PUT_SUBMIT_SECONDS
QUOTA_TIMEOUT = 10.0


class BrokerSubmitter:
    """The production Submitter: the broker's SubmitStorage (only the broker holds keys)."""

    def __init__(self, channel: grpc.aio.Channel, minter: TokenMinter) -> None:
        self._stub: BrokerServiceAsyncStub = broker_service_pb2_grpc.BrokerServiceStub(channel)
        self._minter = minter

    async def submit(
        self, request_id: str, submission: SubmissionData, max_fee: int | None
    ) -> SubmitResult:
        """Pay one submission; the broker replays, never repays, a known request_id."""
        request = broker_pb.SubmitStorageRequest(
            request_id=request_id,
            submissions=[
                broker_pb.FlowSubmission(
                    length=submission.length,
                    tags=submission.tags,
                    nodes=[
                        broker_pb.FlowNode(root=n.root, height=n.height) for n in submission.nodes
                    ],
                )
            ],
            max_fee_neuron="" if max_fee is None else str(max_fee),
        )
        response = await self._stub.SubmitStorage(
            request, metadata=self._minter.metadata("broker"), timeout=_SUBMIT_TIMEOUT
        )
        return SubmitResult(
            tx_seq=int(response.tx_seqs[0]),
            tx_hash=response.tx_hash,
            fee=int(response.fee_neuron or "0"),
            replayed=response.replayed,
        )


class QuotaClient:
    """Reserve, commit and release storage bytes for a subject in the quota service.

    `ttl` is how long quota holds a put's bytes: as long as the put may take (Config.
    reservation_ttl()), not quota's one-minute default, so the budget stays held until the
    commit; a commit after it is billed all the same (flagged late)."""

    def __init__(self, channel: grpc.aio.Channel, minter: TokenMinter, ttl: timedelta) -> None:
        self._stub: QuotaServiceAsyncStub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        self._minter = minter
        self._ttl = Duration()
        self._ttl.FromTimedelta(ttl)

    def _meta(self) -> tuple[tuple[str, str], ...]:
        return self._minter.metadata("quota")

    async def reserve(self, request_id: str, subject: str, size: int) -> str:
        """Set `size` bytes aside; RESOURCE_EXHAUSTED surfaces as grpc.aio.AioRpcError."""
        response = await self._stub.Reserve(
            quota_pb.ReserveRequest(
                request_id=request_id,
                subject=subject,
                items=[quota_pb.UsageItem(unit=quota_pb.UNIT_STORAGE_BYTES, amount=size)],
                operation="storage.put",
                ttl=self._ttl,
            ),
            metadata=self._meta(),
            timeout=QUOTA_TIMEOUT,
        )
        return response.reservation.reservation_id

    async def commit(self, reservation_id: str, size: int, root: str) -> None:
        """Record the bytes stored."""
        await self._stub.Commit(
            quota_pb.CommitRequest(
                reservation_id=reservation_id,
                items=[quota_pb.UsageItem(unit=quota_pb.UNIT_STORAGE_BYTES, amount=size)],
                metadata={"root": root},
            ),
            metadata=self._meta(),
            timeout=QUOTA_TIMEOUT,
        )

    async def release(self, reservation_id: str) -> None:
        """Give the bytes back (the upload failed)."""
        await self._stub.Release(
            quota_pb.ReleaseRequest(reservation_id=reservation_id),
            metadata=self._meta(),
            timeout=QUOTA_TIMEOUT,
        )

    async def release_usage(self, request_id: str, subject: str, size: int) -> None:
        """Give committed bytes back (their object was deleted); idempotent per request_id."""
        await self._stub.ReleaseUsage(
            quota_pb.ReleaseUsageRequest(
                request_id=request_id,
                subject=subject,
                items=[quota_pb.UsageItem(unit=quota_pb.UNIT_STORAGE_BYTES, amount=size)],
            ),
            metadata=self._meta(),
            timeout=QUOTA_TIMEOUT,
        )
