"""The one request_id rule every service applies, and ids derived from request ids.

A request_id is 1-128 characters from '!' (0x21) to '~' (0x7e): printable ASCII without
spaces, so it fits every header, log line and key, and a space can separate it from a caller's
name. An id a service derives from one to send on (a usage record, a verification, an archive)
is `prefix:<sha256 hex of its parts>`: always within the rule, and two different sources never
give the same id, however long they were.
"""

from __future__ import annotations

import hashlib
import re

MAX_LENGTH = 128
# The characters a request_id may hold, as a regular-expression class.
ALLOWED = r"\x21-\x7e"
ALLOWED_CHARACTERS = "".join(chr(c) for c in range(0x21, 0x7F))
RULE = f"1-{MAX_LENGTH} printable ASCII characters without spaces"
_PATTERN = re.compile(f"[{ALLOWED}]{{1,{MAX_LENGTH}}}")
_DIGEST_LENGTH = 64
# A derived id is prefix + ":" + 64 hex digits, so the prefix leaves room for both.
MAX_PREFIX = MAX_LENGTH - 1 - _DIGEST_LENGTH


def valid(value: str) -> bool:
    """Whether `value` is a request_id under the rule."""
    return _PATTERN.fullmatch(value) is not None


def check(value: str) -> str | None:
    """What is wrong with `value` as a request_id (for a BadRequest), or None if it is valid."""
    if not value:
        return f"required: {RULE}"
    if not valid(value):
        return f"must be {RULE}"
    return None


def derived(prefix: str, *parts: str) -> str:
    """A valid request_id for what `prefix` names, unique to `parts` (request ids, names).

    Each part is hashed with its length, so ("a:b", "c") and ("a", "b:c") differ."""
    if not (valid(prefix) and len(prefix) <= MAX_PREFIX):
        raise ValueError(f"a derived id's prefix must be 1-{MAX_PREFIX} request_id characters")
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode()
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return f"{prefix}:{digest.hexdigest()}"


def scoped(caller: str, request_id: str) -> str:
    """A caller's request_id as a key of its own: `caller request_id`.

    A valid request_id holds no space, so the part after the last space is always the
    request_id and two (caller, request_id) pairs never give the same key."""
    return f"{caller} {request_id}"
