"""Mutating requests every service must refuse as INVALID_ARGUMENT, most fields good and one bad
late in the message (a second item, a later field), so a service that writes before it has
checked everything would leave rows behind. Each prepares what it needs, then gives the call."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.stack import Stack
from zerog.broker.v1 import broker_service_pb2 as bpb
from zerog.broker.v1 import broker_service_pb2_grpc
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc
from zerog.quota.v1 import quota_service_pb2 as qpb
from zerog.quota.v1 import quota_service_pb2_grpc
from zerog.scheduler.v1 import scheduler_service_pb2 as cpb
from zerog.scheduler.v1 import scheduler_service_pb2_grpc
from zerog.storage.v1 import storage_service_pb2 as spb
from zerog.storage.v1 import storage_service_pb2_grpc

Call = Callable[[], Awaitable[object]]
Prepare = Callable[[Stack], Awaitable[Call]]
TOKENS = qpb.UNIT_COMPUTE_TOKENS
PROVIDER = "0x" + "ab" * 20


def rid() -> str:
    return uuid.uuid4().hex


def _now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _quota(stack: Stack) -> tuple[Any, tuple[tuple[str, str], ...]]:
    return quota_service_pb2_grpc.QuotaServiceStub(stack.channels["quota"]), stack.md("quota")


def _broker(stack: Stack) -> tuple[Any, tuple[tuple[str, str], ...]]:
    return broker_service_pb2_grpc.BrokerServiceStub(stack.channels["broker"]), stack.md("broker")


def _chat(stack: Stack) -> tuple[Any, tuple[tuple[str, str], ...]]:
    stub = inference_service_pb2_grpc.ChatSessionServiceStub(stack.channels["inference"])
    return stub, stack.md("inference", "app", user="refused")


def _storage(stack: Stack) -> tuple[Any, tuple[tuple[str, str], ...]]:
    stub = storage_service_pb2_grpc.StorageServiceStub(stack.channels["storage"])
    return stub, stack.md("storage", "inference")


def _scheduler(stack: Stack) -> tuple[Any, tuple[tuple[str, str], ...]]:
    stub = scheduler_service_pb2_grpc.SchedulerServiceStub(stack.channels["scheduler"])
    return stub, stack.md("scheduler", "admin")


async def quota_reserve_second_item_bad(stack: Stack) -> Call:
    stub, md = _quota(stack)
    items = [qpb.UsageItem(unit=TOKENS, amount=5), qpb.UsageItem(unit=TOKENS, amount=-1)]
    return lambda: stub.Reserve(
        qpb.ReserveRequest(request_id=rid(), subject="half", items=items), metadata=md
    )


async def quota_reserve_negative_ttl(stack: Stack) -> Call:
    stub, md = _quota(stack)
    request = qpb.ReserveRequest(
        request_id=rid(),
        subject="half",
        items=[qpb.UsageItem(unit=TOKENS, amount=5)],
        ttl=Duration(seconds=-5),
    )
    return lambda: stub.Reserve(request, metadata=md)


async def quota_commit_bad_item(stack: Stack) -> Call:
    stub, md = _quota(stack)
    reserved = await stub.Reserve(
        qpb.ReserveRequest(
            request_id=rid(), subject="half", items=[qpb.UsageItem(unit=TOKENS, amount=5)]
        ),
        metadata=md,
    )
    items = [qpb.UsageItem(unit=TOKENS, amount=3), qpb.UsageItem(unit=TOKENS, amount=-3)]
    return lambda: stub.Commit(
        qpb.CommitRequest(reservation_id=reserved.reservation.reservation_id, items=items),
        metadata=md,
    )


async def quota_set_price_zero_per_amount(stack: Stack) -> Call:
    stub, md = _quota(stack)
    price = qpb.Price(unit=TOKENS, price_key="half", micro_usd=1, per_amount=0)
    return lambda: stub.SetPrice(qpb.SetPriceRequest(price=price), metadata=md)


async def quota_set_rate_limit_negative(stack: Stack) -> Call:
    stub, md = _quota(stack)
    limit = qpb.RateLimit(method="half", window=Duration(seconds=60), max_requests=-1)
    return lambda: stub.SetRateLimit(qpb.SetRateLimitRequest(limit=limit), metadata=md)


async def broker_deposit_not_a_number(stack: Stack) -> Call:
    stub, md = _broker(stack)
    return lambda: stub.Deposit(
        bpb.DepositRequest(request_id=rid(), amount_neuron="1e18"), metadata=md
    )


async def broker_api_key_label_too_long(stack: Stack) -> Call:
    stub, md = _broker(stack)
    request = bpb.CreateApiKeyRequest(request_id=rid(), provider=PROVIDER, label="x" * 201)
    return lambda: stub.CreateApiKey(request, metadata=md)


async def broker_record_usage_bad_fee(stack: Stack) -> Call:
    stub, md = _broker(stack)
    request = bpb.RecordUsageRequest(
        request_id=rid(), provider=PROVIDER, input_tokens=1, fee_neuron="-5"
    )
    return lambda: stub.RecordUsage(request, metadata=md)


async def broker_submit_second_submission_bad(stack: Stack) -> Call:
    stub, md = _broker(stack)
    good = bpb.FlowSubmission(length=256, nodes=[bpb.FlowNode(root=b"\x01" * 32, height=0)])
    bad = bpb.FlowSubmission(length=0, nodes=[bpb.FlowNode(root=b"\x02" * 32, height=0)])
    request = bpb.SubmitStorageRequest(request_id=rid(), submissions=[good, bad])
    return lambda: stub.SubmitStorage(request, metadata=md)


async def inference_create_bad_strategy(stack: Stack) -> Call:
    stub, md = _chat(stack)
    request = ipb.CreateChatSessionRequest(
        request_id=rid(),
        title="t",
        model="m",
        routing=ipb.RoutingOptions(strategy=ipb.RoutingStrategy.ValueType(99)),
    )
    return lambda: stub.CreateChatSession(request, metadata=md)


async def inference_send_empty(stack: Stack) -> Call:
    stub, md = _chat(stack)
    created = await stub.CreateChatSession(
        ipb.CreateChatSessionRequest(request_id=rid(), title="t", model="m"), metadata=md
    )
    request = ipb.SendChatMessageRequest(
        request_id=rid(), session_id=created.session.session_id, content=""
    )
    return lambda: stub.SendChatMessage(request, metadata=md)


async def inference_send_bad_temperature(stack: Stack) -> Call:
    stub, md = _chat(stack)
    created = await stub.CreateChatSession(
        ipb.CreateChatSessionRequest(request_id=rid(), title="t", model="m"), metadata=md
    )
    request = ipb.SendChatMessageRequest(
        request_id=rid(), session_id=created.session.session_id, content="hi", temperature=-1
    )
    return lambda: stub.SendChatMessage(request, metadata=md)


async def storage_namespace_bad_acl(stack: Stack) -> Call:
    stub, md = _storage(stack)
    acl = [
        spb.AclEntry(principal="user:ok", permission=spb.PERMISSION_READ),
        spb.AclEntry(principal="user:bad", permission=spb.PERMISSION_UNSPECIFIED),
    ]
    request = spb.CreateNamespaceRequest(request_id=rid(), name=f"half{rid()[:8]}", acl=acl)
    return lambda: stub.CreateNamespace(request, metadata=md)


async def _namespace(stub: Any, md: Any) -> str:
    name = f"half{rid()[:8]}"
    await stub.CreateNamespace(spb.CreateNamespaceRequest(request_id=rid(), name=name), metadata=md)
    return name


async def storage_set_acl_second_bad(stack: Stack) -> Call:
    stub, md = _storage(stack)
    name = await _namespace(stub, md)
    acl = [
        spb.AclEntry(principal="user:ok", permission=spb.PERMISSION_WRITE),
        spb.AclEntry(principal="nobody", permission=spb.PERMISSION_READ),
    ]
    request = spb.SetNamespaceAclRequest(request_id=rid(), namespace=name, acl=acl)
    return lambda: stub.SetNamespaceAcl(request, metadata=md)


async def storage_put_bad_sha256(stack: Stack) -> Call:
    stub, md = _storage(stack)
    name = await _namespace(stub, md)
    header = spb.PutObjectHeader(
        request_id=rid(), namespace=name, name="o", size=4, sha256="not-hex"
    )

    async def parts() -> AsyncIterator[spb.PutObjectRequest]:
        yield spb.PutObjectRequest(header=header)
        yield spb.PutObjectRequest(chunk=b"abcd")

    return lambda: stub.PutObject(parts(), metadata=md)


async def storage_put_bytes_do_not_match(stack: Stack) -> Call:
    stub, md = _storage(stack)
    name = await _namespace(stub, md)
    header = spb.PutObjectHeader(
        request_id=rid(),
        namespace=name,
        name="o",
        size=4,
        sha256=hashlib.sha256(b"wxyz").hexdigest(),
    )

    async def parts() -> AsyncIterator[spb.PutObjectRequest]:
        yield spb.PutObjectRequest(header=header)
        yield spb.PutObjectRequest(chunk=b"abcd")

    return lambda: stub.PutObject(parts(), metadata=md)


async def scheduler_news_second_item_bad(stack: Stack) -> Call:
    stub, md = _scheduler(stack)
    good = cpb.NewsItem(
        id=f"n{rid()}", symbols=["AAPL"], headline="h", summary="s", published_at=_now()
    )
    bad = cpb.NewsItem(id=f"n{rid()}", symbols=["AAPL"], headline="h", summary="s")
    request = cpb.PushNewsItemsRequest(request_id=rid(), items=[good, bad])
    return lambda: stub.PushNewsItems(request, metadata=md)


async def scheduler_preferences_bad_email(stack: Stack) -> Call:
    stub, md = _scheduler(stack)
    prefs = cpb.UserPreferences(user_id=f"u{rid()}", time_zone="UTC", email="not an address")
    request = cpb.SetUserPreferencesRequest(request_id=rid(), preferences=prefs)
    return lambda: stub.SetUserPreferences(request, metadata=md)


async def scheduler_snapshot_second_position_bad(stack: Stack) -> Call:
    stub, md = _scheduler(stack)
    positions = [
        cpb.Position(symbol="AAPL", quantity="1", price_micro_usd=1),
        cpb.Position(symbol="MSFT", quantity="-1", price_micro_usd=1),
    ]
    snapshot = cpb.PortfolioSnapshot(user_id=f"u{rid()}", as_of=_now(), positions=positions)
    request = cpb.PushPortfolioSnapshotRequest(request_id=rid(), snapshot=snapshot)
    return lambda: stub.PushPortfolioSnapshot(request, metadata=md)


CASES: dict[str, Prepare] = {
    f.__name__: f
    for f in (
        quota_reserve_second_item_bad,
        quota_reserve_negative_ttl,
        quota_commit_bad_item,
        quota_set_price_zero_per_amount,
        quota_set_rate_limit_negative,
        broker_deposit_not_a_number,
        broker_api_key_label_too_long,
        broker_record_usage_bad_fee,
        broker_submit_second_submission_bad,
        inference_create_bad_strategy,
        inference_send_empty,
        inference_send_bad_temperature,
        storage_namespace_bad_acl,
        storage_set_acl_second_bad,
        storage_put_bad_sha256,
        storage_put_bytes_do_not_match,
        scheduler_news_second_item_bad,
        scheduler_preferences_bad_email,
        scheduler_snapshot_second_position_bad,
    )
}
