"""Session rules: when and how a conversation is compressed, and when its context is stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SYSTEM, USER, ASSISTANT = "system", "user", "assistant"
COMPRESS_AFTER = 20
KEEP_LAST = 10
STALE_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class StoredMessage:
    """A message as the session keeps it."""

    message_id: int
    role: str
    content: str
    summary: bool = False


@dataclass(frozen=True)
class CompressionPlan:
    """What a compression summarises and what it keeps."""

    system: list[StoredMessage]
    summarise: list[StoredMessage]
    keep: list[StoredMessage]


def conversation(messages: list[StoredMessage]) -> list[StoredMessage]:
    """The messages that count towards compression: neither system prompts nor summaries."""
    return [m for m in messages if m.role != SYSTEM and not m.summary]


def plan_compression(
    messages: list[StoredMessage], after: int = COMPRESS_AFTER, keep: int = KEEP_LAST
) -> CompressionPlan | None:
    """None while at most `after` messages; else keep system + a new summary + the last `keep`.

    The previous summary (if any) is summarised again with the older messages, so a session
    never holds more than one summary.
    """
    if len(messages) <= after:
        return None
    system = [m for m in messages if m.role == SYSTEM and not m.summary]
    rest = [m for m in messages if not (m.role == SYSTEM and not m.summary)]
    return CompressionPlan(system=system, summarise=rest[:-keep], keep=rest[-keep:])


def summary_prompt(plan: CompressionPlan) -> list[dict[str, str]]:
    """The messages asking the model to summarise what compression drops."""
    transcript = "\n".join(
        f"{'summary so far' if m.summary else m.role}: {m.content}" for m in plan.summarise
    )
    return [
        {
            "role": SYSTEM,
            "content": "Summarise this conversation so it can continue without it. Keep facts, "
            "numbers, decisions and open questions. Answer with the summary only.",
        },
        {"role": USER, "content": transcript},
    ]


def is_stale(updated: datetime | None, now: datetime, max_age: timedelta = STALE_AFTER) -> bool:
    """A portfolio context set more than `max_age` ago is stale; no context is never stale."""
    return updated is not None and now - updated > max_age
