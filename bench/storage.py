"""Storage: PutObject and GetObject of 1 MiB objects, 8 at a time, vs the official TS SDK.

Ours: quota + broker + storage as `make dev` runs them, on the devnet with its storage node
and indexer (bench.stack). A namespace of the bench's own, its owner given room in quota;
then rounds of 8 concurrent clients each streaming fresh random 1 MiB objects through
PutObject (the service builds the tree, pays the Flow submission through the broker's one
wallet, uploads the segments and waits for the node to finalize), then reading every one back
with GetObject (proof-checked by the service) and comparing the SHA-256.
Peer: the official TS storage SDK (bench/peers/storage_sdk.mjs) doing the same with other
random files of the same size against the same node: indexer.upload per file, each worker
paying from a wallet of its own, then indexer.download(root, path, withProof=true), which in
SDK 1.2.8 checks no proof (its downloadTask leaves the proof unused, "TODO: add proof check")
while ours checks every segment's proof and the SHA-256. Both with their default
poll intervals. Storage's RSS is sampled while ours runs (bench.rss).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc.aio

from bench.context import ROOT, Context
from bench.loadgen import closed_loop
from bench.model import Measurement, Row, percentile
from bench.node import PeerUnavailable, run_node
from bench.procs import BENCH_KEYS
from bench.report import Section
from bench.rss import Sampler, idle_mib, under_load_row
from bench.stack import running_stack
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as pb
from zerog.storage.v1 import storage_service_pb2_grpc

if TYPE_CHECKING:
    from zerog.quota.v1.quota_service_pb2_grpc import QuotaServiceAsyncStub
    from zerog.storage.v1.storage_service_pb2_grpc import StorageServiceAsyncStub

SERVICES = ["quota", "broker", "storage"]
SIZE = 1024 * 1024
MB = SIZE / 1e6
CONCURRENCY = 8
CHUNK = 256 * 1024
OURS = "zerog storage + broker + quota"
SDK = "TS SDK 1.2.8 (node)"
CALLER = "bench"


@dataclass
class Phase:
    """One direction (put or get) over all rounds: MB/s per round and ms per object."""

    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def add(self, latencies: list[float], seconds: float) -> None:
        self.rates.append(len(latencies) * MB / seconds)
        self.latencies += latencies


@dataclass
class Result:
    """Puts, gets, and how many objects came back with other bytes than were put."""

    put: Phase = field(default_factory=Phase)
    get: Phase = field(default_factory=Phase)
    wrong: int = 0


async def _parts(header: pb.PutObjectHeader, data: bytes) -> AsyncIterator[pb.PutObjectRequest]:
    yield pb.PutObjectRequest(header=header)
    for start in range(0, len(data), CHUNK):
        yield pb.PutObjectRequest(chunk=data[start : start + CHUNK])


async def _namespace(stub: StorageServiceAsyncStub, quota_address: str) -> str:
    """A namespace of the bench's own; its owner may store as much as the run needs."""
    minter = BENCH_KEYS.minter(CALLER)
    name = f"bench-{uuid.uuid4().hex[:10]}"
    created = await stub.CreateNamespace(
        pb.CreateNamespaceRequest(request_id=uuid.uuid4().hex, name=name),
        metadata=minter.metadata("storage"),
    )
    async with grpc.aio.insecure_channel(quota_address) as channel:
        quota: QuotaServiceAsyncStub = quota_service_pb2_grpc.QuotaServiceStub(channel)
        await quota.SetSubjectTier(
            qpb.SetSubjectTierRequest(
                subject=created.namespace.owner,
                tier="custom",
                custom_limits=qpb.Limits(storage_bytes=1 << 50),
            ),
            metadata=BENCH_KEYS.minter("admin").metadata("quota"),
        )
    return name


async def _ours(addresses: dict[str, str], rounds: list[list[bytes]], sampler: Sampler) -> Result:
    """Every round's puts then gets through the service, the storage process sampled."""
    result = Result()
    minter = BENCH_KEYS.minter(CALLER)
    options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    async with grpc.aio.insecure_channel(addresses["storage"], options=options) as channel:
        stub: StorageServiceAsyncStub = storage_service_pb2_grpc.StorageServiceStub(channel)
        namespace = await _namespace(stub, addresses["quota"])

        for r, objects in enumerate(rounds):

            async def put_one(i: int, r: int = r, objects: list[bytes] = objects) -> object:
                data = objects[i]
                header = pb.PutObjectHeader(
                    request_id=uuid.uuid4().hex,
                    namespace=namespace,
                    name=f"round-{r}/object-{i}",
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
                return await stub.PutObject(
                    _parts(header, data), metadata=minter.metadata("storage")
                )

            async def get_one(i: int, r: int = r, objects: list[bytes] = objects) -> object:
                call = stub.GetObject(
                    pb.GetObjectRequest(namespace=namespace, name=f"round-{r}/object-{i}"),
                    metadata=minter.metadata("storage"),
                )
                got = b"".join([m.chunk async for m in call if m.WhichOneof("part") == "chunk"])
                result.wrong += got != objects[i]
                return got

            with sampler:
                latencies, seconds = await closed_loop(put_one, CONCURRENCY, len(objects))
                result.put.add(latencies, seconds)
                latencies, seconds = await closed_loop(get_one, CONCURRENCY, len(objects))
                result.get.add(latencies, seconds)
    return result


def _peer(ctx: Context, stack_state: Any, rounds: list[list[bytes]]) -> Result:
    """The TS SDK over files of the same sizes (other random bytes: nothing deduplicates)."""
    if not (ROOT / "node_modules" / "@0gfoundation" / "0g-ts-sdk").exists():
        raise PeerUnavailable("node_modules/@0gfoundation/0g-ts-sdk is missing: make install")
    storage: Any = stack_state.services.get("storage", {})
    indexer = storage.get("indexer")
    if not isinstance(indexer, str):
        raise PeerUnavailable("the devnet publishes no indexer")
    out = ctx.scratch / "storage-sdk"
    out.mkdir(exist_ok=True)
    paths: list[list[str]] = []
    for r, objects in enumerate(rounds):
        paths.append([])
        for i, data in enumerate(objects):
            path = out / f"sdk-put-{r}-{i}.bin"
            path.write_bytes(data)
            paths[-1].append(str(path))
    # wallets[0] is the broker's (ours); the SDK's workers pay from the next ones.
    keys = [w.private_key for w in stack_state.wallets[1 : 1 + CONCURRENCY]]
    payload = {
        "indexer": indexer,
        "rpc": stack_state.rpc_url,
        "keys": keys,
        "rounds": paths,
        "outDir": str(out),
    }
    answer = run_node(ctx, "storage_sdk.mjs", payload, timeout=1800)
    result = Result()
    for r, done in enumerate(answer["rounds"]):
        result.put.add(done["put"]["millis"], done["put"]["seconds"])
        result.get.add(done["get"]["millis"], done["get"]["seconds"])
        for i, data in enumerate(rounds[r]):
            result.wrong += (out / f"sdk-get-{r}-{i}.bin").read_bytes() != data
    return result


def _latency_note(who: str, phase: Phase) -> str:
    p50, p99 = percentile(phase.latencies, 50), percentile(phase.latencies, 99)
    rate = statistics.median(phase.rates) / MB
    return f"{who}: {rate:.1f} objects/s, {p50:,.0f} ms p50 / {p99:,.0f} ms p99 per object"


def _rows(shape: str, ours: Result, peer: Result | None, peer_note: str) -> list[Row]:
    rows = []
    for what in ("PutObject", "GetObject"):
        mine = ours.put if what == "PutObject" else ours.get
        theirs = None if peer is None else peer.put if what == "PutObject" else peer.get
        notes = [shape, _latency_note("ours", mine)]
        if theirs is not None:
            notes.append(_latency_note("TS SDK", theirs))
        if what == "GetObject":
            wrong = f"{ours.wrong} of ours" + (
                "" if peer is None else f", {peer.wrong} of the SDK's"
            )
            notes.append(f"bytes read back compared with what was put: {wrong} differ")
        notes += [peer_note, "clients, services, node, chain and PostgreSQL share this machine"]
        rows.append(
            Row(
                f"storage: {what} 1 MiB objects, {CONCURRENCY} concurrent",
                "MB/s",
                Measurement.of_rates(OURS, mine.rates),
                None if theirs is None else Measurement.of_rates(SDK, theirs.rates),
                notes=notes,
            )
        )
    return rows


def run(ctx: Context) -> list[Row | Section]:
    """PutObject and GetObject MB/s beside the TS SDK, and storage's memory under that load."""
    if ctx.tiny:
        note = "not run at smoke-test size (needs the devnet)"
        return [Row("storage: PutObject / GetObject", "MB/s", None, notes=[note])]
    rounds_n, per_round = ctx.pick(3, 2, 1), CONCURRENCY * ctx.pick(4, 2, 1)
    rounds = [[os.urandom(SIZE) for _ in range(per_round)] for _ in range(rounds_n)]
    peer_rounds = [[os.urandom(SIZE) for _ in range(per_round)] for _ in range(rounds_n)]
    shape = f"{rounds_n} rounds of {per_round} objects, {CONCURRENCY} at a time; puts then gets"
    temp = {"storage": {"STORAGE_TEMP_DIR": str(ctx.scratch / "storage-tmp")}}
    with running_stack(ctx, SERVICES, temp) as stack:
        if stack.failed or stack.devnet is None:
            why = "; ".join(f"{k}: {v[:200]}" for k, v in stack.failed.items()) or "no devnet"
            return [Row("storage", "MB/s", None, notes=[f"stack did not start: {why}"])]
        pid = stack.services["storage"].process.pid
        idle = idle_mib(pid, ctx.pick(5, 3, 1), ctx.pick(2, 1, 0))
        sampler = Sampler({"storage": pid})
        addresses = {name: s.address for name, s in stack.services.items()}
        started = time.monotonic()
        ours = asyncio.run(_ours(addresses, rounds, sampler))
        ours_seconds = time.monotonic() - started
        peer: Result | None = None
        peer_note = (
            "peer: the TS SDK's indexer.upload / indexer.download per file (withProof=true, "
            "which SDK 1.2.8 ignores: it checks no proof, ours checks every segment's; its "
            "upload is a per-file, CLI-style flow), 8 workers in one node process each paying "
            "from its own wallet, gasLimit 1,000,000 (its own estimate runs out of gas when 8 "
            "submissions race); each side's default polling (ours 0.5 s, the SDK's 1 s)"
        )
        try:
            peer = _peer(ctx, stack.devnet, peer_rounds)
        except (PeerUnavailable, RuntimeError) as e:
            peer_note = f"TS SDK not run: {e}"[:500]
    load = (
        f"{shape}: PutObject then GetObject of fresh random 1 MiB objects "
        f"({ours_seconds:.0f} s); sampled only while ours ran"
    )
    memory = under_load_row(
        "storage",
        f"{CONCURRENCY} concurrent 1 MiB puts/gets",
        idle,
        sampler.samples["storage"],
        load,
    )
    return [*_rows(shape, ours, peer, peer_note), memory]
