"""Structured prompts: the portfolio narrative and the dream reading, and parsing their answers."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from services.inference.errors import MalformedModelOutput
from services.inference.portfolio import PortfolioFigures

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def _json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer (bare or in a code fence), or None."""
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(cleaned[start : end + 1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _strings(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return [v.strip() for v in value if v.strip()]


def _schema_format(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's response_format asking for JSON of exactly these (all required) properties."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "strict": True,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


_TEXTS = {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5}
PORTFOLIO_FORMAT = _schema_format(
    "portfolio_insights", {"narrative": {"type": "string"}, "insights": _TEXTS}
)
DREAM_FORMAT = _schema_format(
    "dream_reading",
    {
        "interpretation": {"type": "string"},
        "symbols": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}, "meaning": {"type": "string"}},
                "required": ["symbol", "meaning"],
                "additionalProperties": False,
            },
        },
        "emotions": _TEXTS,
        "insights": _TEXTS,
    },
)


def portfolio_messages(figures: PortfolioFigures) -> list[dict[str, str]]:
    """Ask for a narrative and insights about figures computed by code (never by the model)."""
    facts = {
        "total_value_usd": figures.total_value_micro_usd / 1_000_000,
        "total_pnl_usd": figures.total_pnl_micro_usd / 1_000_000,
        "total_return": figures.total_return,
        "day_return": figures.day_return,
        "annualised_volatility": figures.volatility,
        "sharpe_ratio": figures.sharpe_ratio,
        "max_drawdown": figures.max_drawdown,
        "diversification_score": figures.diversification_score,
        "positions": [
            {"symbol": p.symbol, "weight": p.weight, "return": p.total_return, "day": p.day_return}
            for p in figures.positions
        ],
    }
    return [
        {
            "role": "system",
            "content": "You are a careful portfolio analyst. Use only the figures given; do not "
            'compute new ones. Answer with JSON: {"narrative": "<3-5 sentences>", '
            '"insights": ["<actionable insight>", ...]}.',
        },
        {"role": "user", "content": json.dumps(facts, separators=(",", ":"))},
    ]


def parse_portfolio(text: str) -> tuple[str, list[str]]:
    """Narrative and insights; a model that ignored the format still gives its text as narrative."""
    data = _json_object(text)
    if data is not None and isinstance(data.get("narrative"), str):
        return data["narrative"].strip(), _strings(data.get("insights")) or []
    return text.strip(), []


@dataclass(frozen=True)
class DreamReading:
    """The structured reading of a dream."""

    interpretation: str
    symbols: list[tuple[str, str]]
    emotions: list[str]
    insights: list[str]


def dream_messages(dream: str) -> list[dict[str, str]]:
    """Ask for a dream reading in a fixed JSON shape."""
    return [
        {
            "role": "system",
            "content": "You interpret dreams thoughtfully and without certainty. Answer with JSON "
            'only: {"interpretation": "<paragraph>", "symbols": [{"symbol": "...", '
            '"meaning": "..."}], "emotions": ["..."], "insights": ["..."]}.',
        },
        {"role": "user", "content": dream},
    ]


def parse_dream(text: str) -> DreamReading:
    """The reading; MalformedModelOutput naming what is missing when the shape is wrong."""
    data = _json_object(text)
    if data is None:
        raise MalformedModelOutput("the model did not answer with a JSON object")
    interpretation = data.get("interpretation")
    emotions, insights = _strings(data.get("emotions")), _strings(data.get("insights"))
    raw_symbols = data.get("symbols")
    symbols: list[tuple[str, str]] | None = None
    if isinstance(raw_symbols, list):
        symbols = [
            (str(s["symbol"]), str(s.get("meaning", "")))
            for s in raw_symbols
            if isinstance(s, dict) and isinstance(s.get("symbol"), str)
        ]
    missing = [
        name
        for name, value in (
            ("interpretation", interpretation if isinstance(interpretation, str) else None),
            ("symbols", symbols),
            ("emotions", emotions),
            ("insights", insights),
        )
        if value is None
    ]
    if missing or not isinstance(interpretation, str):
        raise MalformedModelOutput(f"the model's answer lacks {', '.join(missing)}")
    return DreamReading(interpretation.strip(), symbols or [], emotions or [], insights or [])
