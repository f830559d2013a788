"""0x-hex conversions shared by the JSON shapes of the node, indexer and SDK vectors."""

from __future__ import annotations


def to_hex(data: bytes) -> str:
    """Lower-case 0x-prefixed hex."""
    return "0x" + data.hex()


def from_hex(text: str) -> bytes:
    """Bytes from hex with or without 0x."""
    return bytes.fromhex(text[2:] if text[:2] in ("0x", "0X") else text)


def hash_from_hex(text: str) -> bytes:
    """A 32-byte hash from 0x-hex; anything else is a ValueError."""
    out = from_hex(text)
    if len(out) != 32:
        raise ValueError(f"expected a 32-byte hash, got {len(out)} bytes")
    return out
