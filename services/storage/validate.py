"""Storage's own checks of request fields, added to a Problems and reported all at once."""

from __future__ import annotations

import base64
import re

from zerog_grpc import InvalidRequest, Problems

NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
PRINCIPAL_RE = re.compile(r"^(service|user):[^\s\x00-\x1f\x7f]{1,200}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ROOT_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_NAME_BYTES = 1024
MAX_METADATA_ENTRIES = 64
MAX_METADATA_BYTES = 8192
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def mutation(request_id: str) -> Problems:
    """The problems of a request that changes something, starting with its request_id's."""
    problems = Problems()
    problems.request_id("request_id", request_id)
    return problems


def namespace_name(value: str, problems: Problems, field: str = "namespace") -> None:
    """1-63 of [a-z0-9._-], starting with a letter or digit."""
    if not NAMESPACE_RE.match(value):
        problems.add(field, "must be 1-63 characters of [a-z0-9._-], starting with [a-z0-9]")


def object_name(value: str, problems: Problems, field: str = "name") -> None:
    """1-1024 bytes of UTF-8 without control characters."""
    if not value or len(value.encode()) > MAX_NAME_BYTES:
        problems.add(field, f"must be 1-{MAX_NAME_BYTES} bytes")
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        problems.add(field, "must not contain control characters")


def object_key(problems: Problems, namespace: str, name: str, version: int = 0) -> None:
    """The namespace, name and version (0: the latest) naming one object."""
    namespace_name(namespace, problems)
    object_name(name, problems)
    problems.not_negative("version", version)


def principal(value: str, problems: Problems, field: str) -> None:
    """ "service:<name>" or "user:<name>"."""
    if not PRINCIPAL_RE.match(value):
        problems.add(field, 'must be "service:<name>" or "user:<name>"')


def metadata(value: dict[str, str], problems: Problems, field: str = "metadata") -> None:
    """At most 64 entries and 8 KiB in all."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if len(value) > MAX_METADATA_ENTRIES or total > MAX_METADATA_BYTES:
        problems.add(
            field, f"at most {MAX_METADATA_ENTRIES} entries and {MAX_METADATA_BYTES} bytes"
        )
    elif any(not k for k in value):
        problems.add(field, "keys must not be empty")


def up_to(value: int, most: int, problems: Problems, field: str) -> None:
    """0 (the default) to `most`."""
    if not 0 <= value <= most:
        problems.add(field, f"must be 0-{most}")


def root(value: str, problems: Problems, field: str = "root") -> bytes:
    """A 0x-prefixed 32-byte hex merkle root."""
    if not ROOT_RE.match(value):
        problems.add(field, "must be a 0x-prefixed 32-byte hex merkle root")
        return b""
    return bytes.fromhex(value[2:])


def page_size(value: int, problems: Problems, field: str = "page_size") -> int:
    """0 means the default; at most 1000."""
    if value < 0 or value > MAX_PAGE_SIZE:
        problems.add(field, f"must be 0-{MAX_PAGE_SIZE}")
    return value or DEFAULT_PAGE_SIZE


def encode_token(*parts: str | int) -> str:
    """An opaque page token holding the last row's key."""
    text = "\x00".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_token(token: str, count: int, problems: Problems) -> list[str] | None:
    """The key parts of a page token, or None (and a problem) when it is not ours; a last
    part that is a version must be a number."""
    if not token:
        return None
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("\x00")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != count or (count > 1 and not parts[-1].isdigit()):
        problems.add("page_token", "not a token from a previous page")
        return None
    return parts


def raise_if(what: str, problems: Problems) -> None:
    """InvalidRequest naming every problem, when there is any."""
    if problems:
        problems.raise_if_any(
            f"invalid {what}: " + "; ".join(f"{k}: {v}" for k, v in problems.items())
        )


def invalid(what: str, field: str, description: str) -> InvalidRequest:
    """The InvalidRequest of one bad field found past the first checks (size, bytes, replicas)."""
    return InvalidRequest({field: description}, f"invalid {what}: {field}: {description}")
