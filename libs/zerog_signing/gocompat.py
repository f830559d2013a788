"""The Go standard-library behaviours that 0G's provider-side token check depends on.

The Go serving broker decodes the header with encoding/base64 (StdEncoding), the token with
encoding/json into a struct, and the signature with go-ethereum's hexutil. A devnet provider
that mirrors it must accept and refuse the same inputs, with the same error texts. Texts of
Go's JSON *syntax* errors are reproduced for the common cases only (see go_json_syntax_error).
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

__all__ = [
    "GoDecodeError",
    "go_hexutil_decode",
    "go_json_object_pairs",
    "go_quote_char",
    "go_std_b64decode",
]

_B64_CANONICAL = re.compile(rb"[A-Za-z0-9+/]*={0,2}")
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_HEX = re.compile(r"[0-9a-fA-F]*")


class GoDecodeError(ValueError):
    """A decoding error whose str() is the Go error text."""


def go_std_b64decode(src: bytes) -> bytes:
    """base64.StdEncoding.DecodeString: padding required, CR/LF skipped, loose trailing bits."""
    # The C decoder's strict mode takes canonical input (no CR/LF) in one pass, but it
    # also takes padding after a full quantum ("AAAA="): the length check refuses that,
    # and whatever it refuses goes the exact way.
    try:
        out = binascii.a2b_base64(src, strict_mode=True)
    except binascii.Error:
        return _go_std_b64decode_exact(src)
    if len(src) % 4 or len(out) != len(src) // 4 * 3 - src.endswith(b"=") - src.endswith(b"=="):
        return _go_std_b64decode_exact(src)
    return out


def _go_std_b64decode_exact(src: bytes) -> bytes:
    stripped = src.replace(b"\r", b"").replace(b"\n", b"")
    if len(stripped) % 4 == 0 and _B64_CANONICAL.fullmatch(stripped):
        return binascii.a2b_base64(stripped)
    raise GoDecodeError(f"illegal base64 data at input byte {_b64_error_offset(src)}")


def _b64_error_offset(src: bytes) -> int:
    # Walks the input as Go's decodeQuantum does, to report the same offset.
    n = len(src)
    si = 0
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return n  # unreachable for an invalid input; kept total
                return si - j
            c = src[si]
            si += 1
            if c in _B64_ALPHABET:
                j += 1
                continue
            if c in (0x0A, 0x0D):
                continue
            if c != 0x3D:
                return si - 1
            if j < 2:
                return si - 1
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return n
                if src[si] != 0x3D:
                    return si - 1
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            return si if si < n else n
        if si == n:
            return n


def go_hexutil_decode(text: str) -> bytes:
    """go-ethereum hexutil.Decode: 0x prefix required, even length, hex digits only."""
    if text[:2] in ("0x", "0X"):
        try:
            out = bytes.fromhex(text[2:])
        except ValueError:
            pass
        else:
            # fromhex skips whitespace, which Go refuses: every character must be a digit.
            if 2 * len(out) == len(text) - 2:
                return out
    return _go_hexutil_decode_exact(text)


def _go_hexutil_decode_exact(text: str) -> bytes:
    if not text:
        raise GoDecodeError("empty hex string")
    if not (len(text) >= 2 and text[0] == "0" and text[1] in "xX"):
        raise GoDecodeError("hex string without 0x prefix")
    digits = text[2:]
    # encoding/hex reports a bad digit before an odd length.
    if not digits.isascii() or not _HEX.fullmatch(digits):
        raise GoDecodeError("invalid hex string")
    if len(digits) % 2:
        raise GoDecodeError("hex string of odd length")
    return bytes.fromhex(digits)


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
}


def go_quote_char(char: str) -> str:
    """encoding/json's quoteChar, as its syntax errors show a character: 'x', '\\n'."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    if char in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[char]}'"
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"'\\x{ord(char):02x}'"
    return f"'{char}'"


class _Pairs(list[tuple[str, Any]]):
    """A JSON object kept as its (key, value) pairs in document order."""


class _FloatLiteral(str):
    """A JSON number with a fraction or exponent, kept as written for Go's error text."""


def go_json_object_pairs(text: str) -> list[tuple[str, Any]] | str | None:
    """Parse `text` as JSON the way Go's syntax check does.

    Returns the top-level object's pairs in order (nested objects are lists of pairs too,
    numbers with a fraction or exponent are kept as their literal text), None for `null`,
    or the Go type name of another top-level value ("array", "string", ...).
    Raises GoDecodeError with Go's syntax error text.
    """
    try:
        value = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_float=_FloatLiteral,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as e:
        raise GoDecodeError(go_json_syntax_error(e)) from None
    except _BadConstant as e:
        where = "in numeric literal" if str(e).startswith("-") else "looking for beginning of value"
        raise GoDecodeError(
            f"invalid character {go_quote_char(str(e).lstrip('-')[0])} {where}"
        ) from None
    except ValueError:
        # Python refuses integers with thousands of digits; Go fails on them as well.
        raise GoDecodeError("number too long") from None
    if value is None or isinstance(value, _Pairs):
        return value
    return go_json_kind(value)


def go_json_kind(value: object) -> str:
    """The word Go's UnmarshalTypeError uses for a JSON value of this kind."""
    if isinstance(value, _Pairs):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, _FloatLiteral | int):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    return "null"


def is_json_float(value: object) -> bool:
    """True for a number that had a fraction or exponent in the JSON text."""
    return isinstance(value, _FloatLiteral)


class _BadConstant(Exception):
    pass


def _refuse_constant(name: str) -> object:
    # Python accepts NaN and Infinity; JSON (and Go) do not.
    raise _BadConstant(name)


def go_json_syntax_error(e: json.JSONDecodeError) -> str:
    """Go's text for the syntax error Python found (common cases exactly, others close)."""
    doc, pos, msg = e.doc, e.pos, e.msg
    if pos >= len(doc) or msg.startswith("Unterminated string"):
        return "unexpected end of JSON input"
    char = go_quote_char(doc[pos])
    if msg == "Extra data":
        return f"invalid character {char} after top-level value"
    if msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if msg == "Expecting ':' delimiter":
        return f"invalid character {char} after object key"
    if msg == "Expecting ',' delimiter":
        return f"invalid character {char} after object key:value pair"
    if msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    if msg.startswith("Invalid \\escape") or msg.startswith("Invalid \\u"):
        return f"invalid character {char} in string escape code"
    return f"invalid character {char} looking for beginning of value"
