"""Per service: its representative mutating and listing RPCs, with one hostile payload in one
text field at a time, each stored value read back through the service (or its own table)."""

from __future__ import annotations

import uuid
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from tests.security.injection import Findings, put_object, storage_stub
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

TOKENS = qpb.UNIT_COMPUTE_TOKENS


def rid() -> str:
    return uuid.uuid4().hex


def _text(field: str, value: str) -> dict[str, Any]:
    """Keyword arguments setting one text field (typed loosely for the message constructors)."""
    return {field: value}


async def quota(stack: Stack, f: Findings, p: str) -> None:
    stub: Any = quota_service_pb2_grpc.QuotaServiceStub(stack.channels["quota"])
    md = stack.md("quota", "admin")

    async def price_key(_: Any) -> str:
        prices = await stub.ListPrices(qpb.ListPricesRequest(), metadata=md)
        return next((x.price_key for x in prices.prices if x.price_key == p), "<missing>")

    price = qpb.Price(unit=TOKENS, price_key=p, micro_usd=1, per_amount=1000)
    await f.check(
        "quota SetPrice price_key",
        p,
        stub.SetPrice(qpb.SetPriceRequest(price=price), metadata=md),
        price_key,
    )

    async def subject(answer: Any) -> str:
        await stub.Commit(
            qpb.CommitRequest(reservation_id=answer.reservation.reservation_id), metadata=md
        )
        records = await stub.ListCostRecords(qpb.ListCostRecordsRequest(subject=p), metadata=md)
        return "|".join(r.subject for r in records.cost_records)

    item = qpb.UsageItem(unit=TOKENS, amount=1)
    await f.check(
        "quota Reserve subject",
        p,
        stub.Reserve(qpb.ReserveRequest(request_id=rid(), subject=p, items=[item]), metadata=md),
        subject,
    )

    async def operation(answer: Any) -> str:
        return str(answer.reservation.operation)

    reserve = qpb.ReserveRequest(request_id=rid(), subject="inj", items=[item], operation=p)
    await f.check("quota Reserve operation", p, stub.Reserve(reserve, metadata=md), operation)
    for field in ("subject", "service"):
        await f.listed(
            f"quota ListCostRecords {field}",
            p,
            stub.ListCostRecords(qpb.ListCostRecordsRequest(**_text(field, p)), metadata=md),
        )


async def broker(stack: Stack, f: Findings, p: str, provider: str) -> None:
    stub: Any = broker_service_pb2_grpc.BrokerServiceStub(stack.channels["broker"])
    md = stack.md("broker", "admin")

    async def label(answer: Any) -> str:
        keys = await stub.ListApiKeys(
            bpb.ListApiKeysRequest(provider=provider, page_size=200), metadata=md
        )
        token = answer.api_key.token_id
        return next((k.label for k in keys.api_keys if k.token_id == token), "<missing>")

    create = bpb.CreateApiKeyRequest(request_id=rid(), provider=provider, label=p)
    await f.check("broker CreateApiKey label", p, stub.CreateApiKey(create, metadata=md), label)
    await f.listed(
        "broker CreateApiKey provider",
        p,
        stub.CreateApiKey(bpb.CreateApiKeyRequest(request_id=rid(), provider=p), metadata=md),
    )
    await f.listed(
        "broker ListTransactions purpose",
        p,
        stub.ListTransactions(bpb.ListTransactionsRequest(purpose=p), metadata=md),
    )
    await f.listed(
        "broker ListApiKeys provider",
        p,
        stub.ListApiKeys(bpb.ListApiKeysRequest(provider=p), metadata=md),
    )


async def inference(stack: Stack, f: Findings, p: str) -> None:
    stub: Any = inference_service_pb2_grpc.ChatSessionServiceStub(stack.channels["inference"])
    md = stack.md("inference", "app", user="inj")

    def reader(field: str) -> Any:
        async def read(answer: Any) -> str:
            got = await stub.GetChatSession(
                ipb.GetChatSessionRequest(session_id=answer.session.session_id), metadata=md
            )
            return str(getattr(got.session, field))

        return read

    for field in ("title", "model"):
        create = ipb.CreateChatSessionRequest(request_id=rid(), **{"model": "m", **_text(field, p)})
        await f.check(
            f"inference CreateChatSession {field}",
            p,
            stub.CreateChatSession(create, metadata=md),
            reader(field),
        )
    create = ipb.CreateChatSessionRequest(request_id=rid(), model="m", system_prompt=p)
    await f.listed(
        "inference CreateChatSession system_prompt", p, stub.CreateChatSession(create, metadata=md)
    )
    if len(p) > 1000:
        return  # a 10 kB user would not fit in a JWT header under gRPC's metadata limit
    as_p = stack.md("inference", "app", user=p)

    async def user(_: Any) -> str:
        listed = await stub.ListChatSessions(ipb.ListChatSessionsRequest(), metadata=as_p)
        return "|".join(s.user for s in listed.sessions)

    create = ipb.CreateChatSessionRequest(request_id=rid(), model="m")
    await f.check(
        "inference CreateChatSession JWT user",
        p,
        stub.CreateChatSession(create, metadata=as_p),
        user,
    )
    await f.listed(
        "inference ListChatSessions user",
        p,
        stub.ListChatSessions(ipb.ListChatSessionsRequest(user=p), metadata=as_p),
    )


async def storage(stack: Stack, f: Findings, p: str, namespace: str, data: bytes) -> None:
    stub: Any = storage_stub(stack)
    md = stack.md("storage", "inference")

    async def name(_: Any) -> str:
        got = await stub.GetNamespace(spb.GetNamespaceRequest(name=p), metadata=md)
        return str(got.namespace.name)

    create = spb.CreateNamespaceRequest(request_id=rid(), name=p)
    await f.check(
        "storage CreateNamespace name", p, stub.CreateNamespace(create, metadata=md), name
    )

    async def meta(answer: Any) -> str:
        got = await stub.GetNamespace(
            spb.GetNamespaceRequest(name=answer.namespace.name), metadata=md
        )
        return str(dict(got.namespace.metadata).get(p, "<missing>"))

    create = spb.CreateNamespaceRequest(request_id=rid(), name=f"m{rid()[:12]}", metadata={p: p})
    await f.check(
        "storage CreateNamespace metadata", p, stub.CreateNamespace(create, metadata=md), meta
    )

    def head(field: str) -> Any:
        async def read(answer: Any) -> str:
            got = await stub.HeadObject(
                spb.HeadObjectRequest(namespace=namespace, name=answer.object.name), metadata=md
            )
            return str(getattr(got.object, field))

        return read

    put = put_object(stack, rid(), namespace, p, data)
    await f.check("storage PutObject name", p, put, head("name"))
    put = put_object(stack, rid(), namespace, f"ct-{rid()}", data, content_type=p)
    await f.check("storage PutObject content_type", p, put, head("content_type"))
    await f.listed(
        "storage ListObjects prefix",
        p,
        stub.ListObjects(spb.ListObjectsRequest(namespace=namespace, prefix=p), metadata=md),
    )


async def scheduler(stack: Stack, f: Findings, p: str) -> None:
    stub: Any = scheduler_service_pb2_grpc.SchedulerServiceStub(stack.channels["scheduler"])
    md = stack.md("scheduler", "admin")
    pool = stack.pools["scheduler"]

    def preference(field: str) -> Any:
        async def read(answer: Any) -> str:
            user_id = answer.preferences.user_id
            got = await stub.GetUserPreferences(
                cpb.GetUserPreferencesRequest(user_id=user_id), metadata=md
            )
            return str(getattr(got.preferences, field))

        return read

    for field in ("user_id", "time_zone", "email", "webhook_url"):
        values: dict[str, Any] = {"user_id": f"u-{rid()}", "time_zone": "UTC", field: p}
        request = cpb.SetUserPreferencesRequest(
            request_id=rid(), preferences=cpb.UserPreferences(**values)
        )
        await f.check(
            f"scheduler SetUserPreferences {field}",
            p,
            stub.SetUserPreferences(request, metadata=md),
            preference(field),
        )

    def news(column: str, item_id: str) -> Any:
        async def read(_: Any) -> str:
            value = await pool.fetchval(f"SELECT {column} FROM news WHERE id = $1", item_id)
            return "|".join(value) if isinstance(value, list) else str(value)

        return read

    published = Timestamp()
    published.GetCurrentTime()
    for field in ("id", "headline", "summary", "url", "symbols"):
        item_id = p if field == "id" else f"n-{rid()}"
        fields: dict[str, Any] = {
            "id": item_id,
            "symbols": ["AAPL"],
            "headline": "h",
            "summary": "s",
            "url": "https://example.com/n",
        }
        fields[field] = [p] if field == "symbols" else p
        item = cpb.NewsItem(published_at=published, **fields)
        await f.check(
            f"scheduler PushNewsItems {field}",
            p,
            stub.PushNewsItems(
                cpb.PushNewsItemsRequest(request_id=rid(), items=[item]), metadata=md
            ),
            news(field, item_id),
        )
    for field in ("user_id", "job_name"):
        await f.listed(
            f"scheduler ListDeliveries {field}",
            p,
            stub.ListDeliveries(cpb.ListDeliveriesRequest(**_text(field, p)), metadata=md),
        )
