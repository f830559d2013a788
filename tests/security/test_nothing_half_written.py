"""A refused mutating request (INVALID_ARGUMENT + BadRequest) leaves every table of every
service's schema with the row count it had: nothing half-written."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from devnet.storage_node import StorageNetwork
from tests.security.refusals import CASES
from tests.security.tables import changed, row_counts
from tests.stack import SERVICES, Stack
from zerog_grpc import unpack_detail


@pytest.fixture(scope="module")
async def everything(stack: Stack, storage_network: StorageNetwork) -> Stack:
    return await stack.start(*SERVICES, nodes=[n.url for n in storage_network.nodes])


# Found by this test; strict, so a fix shows up as XPASS.
KNOWN: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN[c])) if c in KNOWN else c
        for c in CASES
    ],
)
async def test_a_refused_request_writes_nothing(everything: Stack, case: str) -> None:
    call = await CASES[case](everything)
    before = await row_counts(everything.database_url, SERVICES)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
    assert unpack_detail(refused.value, error_details_pb2.BadRequest) is not None
    assert changed(before, await row_counts(everything.database_url, SERVICES)) == {}
