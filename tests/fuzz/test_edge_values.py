"""Two classes of bad input the property tests found, checked field by field on every unary RPC:
a NUL character in a text field (PostgreSQL text cannot hold it) and a Timestamp/Duration outside
the well-known types' range. Either must be a clear status (INVALID_ARGUMENT), never INTERNAL."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from devnet.storage_node import StorageNetwork
from tests.fuzz.test_every_rpc import caller_for, serving
from tests.security.reflection import Method, call, discover
from tests.stack import SERVICES, Stack

Path = tuple[FieldDescriptor, ...]
TIME_TYPES = ("google.protobuf.Timestamp", "google.protobuf.Duration")
BROKEN = (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


@pytest.fixture(scope="module")
async def everything(stack: Stack, storage_network: StorageNetwork) -> Stack:
    return await stack.start(*SERVICES, nodes=[n.url for n in storage_network.nodes])


def _paths(descriptor: Descriptor, prefix: Path = (), depth: int = 0) -> Iterator[Path]:
    """Paths to every string, Timestamp and Duration field, through nested messages."""
    for field in descriptor.fields:
        path = (*prefix, field)
        message = field.message_type
        if message is None:
            if field.type == field.TYPE_STRING:
                yield path
        elif message.full_name in TIME_TYPES:
            yield path
        elif not message.GetOptions().map_entry and depth < 3:
            yield from _paths(message, path, depth + 1)


def _target(request: Message, path: Path) -> Message:
    """The message holding path's last field (one element added to repeated ones on the way)."""
    current = request
    for field in path[:-1]:
        child = getattr(current, field.name)
        current = child.add() if field.is_repeated else child
    return current


def _set(request: Message, path: Path, text: str) -> None:
    holder, field = _target(request, path), path[-1]
    if field.message_type is not None:
        value = getattr(holder, field.name)
        value = value.add() if field.is_repeated else value
        # Past year 9999 and a negative nanos: both outside the well-known types' range.
        value.seconds, value.nanos = 2**63 - 1, -1
    elif field.is_repeated:
        getattr(holder, field.name).append(text)
    else:
        setattr(holder, field.name, text)


def nul_requests(method: Method) -> Iterator[tuple[str, Message]]:
    """Each text field holding a NUL, the others empty or holding plain text."""
    paths = [p for p in _paths(method.input) if p[-1].message_type is None]
    for others in ("", "plain"):
        for chosen in paths:
            request = method.request()
            for path in paths:
                if path == chosen or others:
                    _set(request, path, "a\x00b" if path == chosen else others)
            yield ".".join(f.name for f in chosen), request


def time_requests(method: Method) -> Iterator[tuple[str, Message]]:
    for path in _paths(method.input):
        if path[-1].message_type is not None:
            request = method.request()
            _set(request, path, "")
            yield ".".join(f.name for f in path), request


async def _broken(stack: Stack, service: str, kind: str) -> list[str]:
    found = []
    builder = nul_requests if kind == "nul" else time_requests
    for method in await discover(stack.address(service)):
        if not method.unary:
            continue
        md = stack.md(service, caller_for(stack, service, method))
        for field, request in builder(method):
            outcome = await call(stack.channels[service], method, request, md, seconds=20)
            if outcome.code in BROKEN:
                found.append(f"{method.name}.{field}")
    assert await serving(stack, service)
    return found


# zerog_grpc.wellformed refuses both kinds for every service, before any servicer sees them.
@pytest.mark.parametrize("service", SERVICES)
async def test_nul_in_any_text_field_is_not_internal(everything: Stack, service: str) -> None:
    broken = await _broken(everything, service, "nul")
    assert not broken, ", ".join(broken)


@pytest.mark.parametrize("service", SERVICES)
async def test_out_of_range_times_are_not_internal(everything: Stack, service: str) -> None:
    broken = await _broken(everything, service, "time")
    assert not broken, ", ".join(broken)
