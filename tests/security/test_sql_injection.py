"""SQL injection strings in every text field of each service's representative mutating and
listing RPCs: each is stored and read back literally or refused as INVALID_ARGUMENT with a
BadRequest, never INTERNAL; every table survives and no unrelated table changes. LIKE
wildcards in a prefix filter match literally."""

from __future__ import annotations

import os
import uuid

import pytest

from devnet.provider import ProviderProcess
from devnet.storage_node import StorageNetwork
from tests.security import injection_cases as cases
from tests.security.injection import PAYLOADS, Findings, put_object, storage_stub
from tests.security.tables import all_tables, changed, row_counts
from tests.stack import SERVICES, Stack
from zerog.storage.v1 import storage_service_pb2 as spb

# The tables these RPCs write to; every other table's row count must stay as it was.
WRITTEN = {
    "quota.prices",
    "quota.reservations",
    "quota.cost_records",
    "quota.subjects",
    "quota.usage",
    "quota.idempotency",  # every service's answers by request_id (zerog_db.Once)
    "broker.api_keys",
    "broker.idempotency",
    "broker.transactions",  # the one storage upload that pays its Flow fee
    "inference.chat_sessions",
    "inference.chat_messages",
    "inference.idempotency",
    "inference.answer_sources",
    "storage.namespaces",
    "storage.acl",
    "storage.objects",
    "storage.namespace_keys",  # a namespace's data key, made by its first put
    "storage.contents",
    "storage.uploads",
    "storage.idempotency",
    "scheduler.users",
    "scheduler.news",
    "scheduler.idempotency",
}


@pytest.fixture(scope="module")
async def everything(
    stack: Stack, storage_network: StorageNetwork, devnet_provider: ProviderProcess
) -> Stack:
    return await stack.start(
        *SERVICES, nodes=[n.url for n in storage_network.nodes], providers=[devnet_provider]
    )


async def _namespace(stack: Stack) -> str:
    name = f"inj{uuid.uuid4().hex[:12]}"
    await storage_stub(stack).CreateNamespace(
        spb.CreateNamespaceRequest(request_id=uuid.uuid4().hex, name=name),
        metadata=stack.md("storage", "inference"),
    )
    return name


async def test_injection_strings_are_stored_literally_or_refused(
    everything: Stack, devnet_provider: ProviderProcess
) -> None:
    url = everything.database_url
    namespace = await _namespace(everything)
    data = os.urandom(64)  # one upload pays; the others are the same content
    tables = await all_tables(url)
    before = await row_counts(url, SERVICES)
    findings = Findings([])
    for payload in PAYLOADS.values():
        await cases.quota(everything, findings, payload)
        await cases.broker(everything, findings, payload, devnet_provider.provider)
        await cases.inference(everything, findings, payload)
        await cases.storage(everything, findings, payload, namespace, data)
        await cases.scheduler(everything, findings, payload)
    assert findings.wrong == []
    assert await all_tables(url) == tables
    diff = changed(before, await row_counts(url, SERVICES))
    assert {t: d for t, d in diff.items() if t not in WRITTEN} == {}
    assert [t for t, (b, a) in diff.items() if (a or 0) < (b or 0)] == []


async def test_like_wildcards_in_a_prefix_match_literally(everything: Stack) -> None:
    namespace = await _namespace(everything)
    data = os.urandom(32)
    names = ["abc", "a%c", "a_c", "a\\c", "aXc"]
    for name in names:
        await put_object(everything, uuid.uuid4().hex, namespace, name, data)
    stub = storage_stub(everything)
    md = everything.md("storage", "inference")
    listed = {}
    for prefix in ("a%", "a_", "a\\", "%", "_", "a"):
        page = await stub.ListObjects(
            spb.ListObjectsRequest(namespace=namespace, prefix=prefix), metadata=md
        )
        listed[prefix] = sorted(o.name for o in page.objects)
    assert listed == {
        "a%": ["a%c"],
        "a_": ["a_c"],
        "a\\": ["a\\c"],
        "%": [],
        "_": [],
        "a": sorted(names),
    }
