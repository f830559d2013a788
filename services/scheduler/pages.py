"""Paging of the List RPCs: opaque page tokens, page sizes and the next page's token."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from services.scheduler.errors import BadPageToken
from zerog_grpc import Problems

T = TypeVar("T")
DEFAULT_SIZE = 50
_BAD_TOKEN = "not a page token from this service"


def encode_token(*parts: str) -> str:
    """An opaque page token."""
    return base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def decode_token(token: str, count: int) -> list[str]:
    """The parts of a page token, or BadPageToken."""
    try:
        parts = base64.urlsafe_b64decode(token.encode()).decode().split("\x1f")
    except (ValueError, UnicodeDecodeError):
        raise BadPageToken(token) from None
    if len(parts) != count:
        raise BadPageToken(token)
    return parts


def token_time(text: str) -> datetime:
    """A timestamp inside a page token."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise BadPageToken(text) from None


def cursor(
    problems: Problems,
    size: int,
    token: str,
    read: Callable[[list[str]], T],
    default: T,
    parts: int = 1,
) -> T:
    """Check `size` and read `token`'s `parts` with `read`; `default` without a token.

    A token that is not ours, or that `read` refuses (BadPageToken, ValueError), is a problem."""
    problems.within("page_size", size, 0, 500)
    if not token:
        return default
    try:
        return read(decode_token(token, parts))
    except (BadPageToken, ValueError):
        problems["page_token"] = _BAD_TOKEN
        return default


def page(found: Sequence[T], size: int, key: Callable[[T], tuple[str, ...]]) -> tuple[list[T], str]:
    """The first `size` of `found` (fetched `size + 1`) and the token of the page after them."""
    if len(found) <= size:
        return list(found), ""
    return list(found[:size]), encode_token(*key(found[size - 1]))
