"""Checks of request fields; each returns problems per field, reported all at once."""

from __future__ import annotations

import base64
import re

from services.storage.errors import InvalidRequest
from zerog_grpc import request_ids

NAMESPACE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
PRINCIPAL_RE = re.compile(r"^(service|user):[^\s\x00-\x1f\x7f]{1,200}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ROOT_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
MAX_NAME_BYTES = 1024
MAX_METADATA_ENTRIES = 64
MAX_METADATA_BYTES = 8192
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


def namespace_name(value: str, problems: dict[str, str], field: str = "namespace") -> None:
    """1-63 of [a-z0-9._-], starting with a letter or digit."""
    if not NAMESPACE_RE.match(value):
        problems[field] = "must be 1-63 characters of [a-z0-9._-], starting with [a-z0-9]"


def object_name(value: str, problems: dict[str, str], field: str = "name") -> None:
    """1-1024 bytes of UTF-8 without control characters."""
    if not value or len(value.encode()) > MAX_NAME_BYTES:
        problems[field] = f"must be 1-{MAX_NAME_BYTES} bytes"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        problems[field] = "must not contain control characters"


def request_id(value: str, problems: dict[str, str]) -> None:
    """An idempotency key under the rule every service shares (zerog_grpc.request_ids)."""
    problem = request_ids.check(value)
    if problem is not None:
        problems["request_id"] = problem


def principal(value: str, problems: dict[str, str], field: str) -> None:
    """ "service:<name>" or "user:<name>"."""
    if not PRINCIPAL_RE.match(value):
        problems[field] = 'must be "service:<name>" or "user:<name>"'


def metadata(value: dict[str, str], problems: dict[str, str], field: str = "metadata") -> None:
    """At most 64 entries and 8 KiB in all."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
    if len(value) > MAX_METADATA_ENTRIES or total > MAX_METADATA_BYTES:
        problems[field] = f"at most {MAX_METADATA_ENTRIES} entries and {MAX_METADATA_BYTES} bytes"
    elif any(not k for k in value):
        problems[field] = "keys must not be empty"


def root(value: str, problems: dict[str, str], field: str = "root") -> bytes:
    """A 0x-prefixed 32-byte hex merkle root."""
    if not ROOT_RE.match(value):
        problems[field] = "must be a 0x-prefixed 32-byte hex merkle root"
        return b""
    return bytes.fromhex(value[2:])


def page_size(value: int, problems: dict[str, str], field: str = "page_size") -> int:
    """0 means the default; at most 1000."""
    if value < 0 or value > MAX_PAGE_SIZE:
        problems[field] = f"must be 0-{MAX_PAGE_SIZE}"
    return value or DEFAULT_PAGE_SIZE


def encode_token(*parts: str | int) -> str:
    """An opaque page token holding the last row's key."""
    text = "\x00".join(str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_token(token: str, count: int, problems: dict[str, str]) -> list[str] | None:
    """The key parts of a page token, or None (and a problem) when it is not ours."""
    if not token:
        return None
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("\x00")
    except (ValueError, UnicodeDecodeError):
        parts = []
    if len(parts) != count:
        problems["page_token"] = "not a token from a previous page"
        return None
    return parts


def raise_if(what: str, problems: dict[str, str]) -> None:
    """InvalidRequest when any problem was found."""
    if problems:
        raise InvalidRequest(what, problems)
