"""Local token counting, used only when a provider's response has no usage field."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

# Words, numbers and single punctuation marks: close to what BPE tokenizers produce for English.
_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Each message costs a few tokens of framing in the chat format.
PER_MESSAGE_OVERHEAD = 4


def count_text(text: str) -> int:
    """An estimate of the tokens in `text`: pieces, with long words counted per 4 characters."""
    return sum(max(1, math.ceil(len(piece) / 4)) for piece in _PIECES.findall(text))


def count_messages(contents: Iterable[str]) -> int:
    """An estimate of the prompt tokens of a conversation."""
    return sum(count_text(c) + PER_MESSAGE_OVERHEAD for c in contents)
