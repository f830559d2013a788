"""Insight RPCs against the devnet provider: code-computed metrics exactly, the model's
structured answer (OpenAI json_schema response_format) parsed into narrative and insights, or
into the dream reading's interpretation, symbols, emotions and insights."""

from __future__ import annotations

import json

from web3 import Web3

from devnet import A0GI
from devnet.provider.model import ChatRequest, answer
from services.inference import insights
from tests.inference.conftest import StartInference, Trio
from tests.wallet_users import dream_intent, funded_user
from zerog.inference.v1 import inference_service_pb2 as pb

USD = 1_000_000


def portfolio_request(model: str, request_id: str) -> pb.AnalyzePortfolioRequest:
    """The fixture of test_portfolio.py (its figures worked out by hand there)."""
    return pb.AnalyzePortfolioRequest(
        request_id=request_id,
        subject="user:paula",
        model=model,
        positions=[
            pb.Position(symbol="ETH", quantity="2", cost_basis_micro_usd=200 * USD),
            pb.Position(symbol="UNI", quantity="10", cost_basis_micro_usd=100 * USD),
        ],
        price_history=[
            pb.PriceSeries(
                symbol="ETH", close_micro_usd=[100 * USD, 110 * USD, 99 * USD, 120 * USD]
            ),
            pb.PriceSeries(symbol="UNI", close_micro_usd=[10 * USD, 10 * USD, 11 * USD, 10 * USD]),
        ],
    )


async def test_analyze_portfolio_gives_exact_metrics_and_the_models_narrative(
    start_inference: StartInference, trio: Trio
) -> None:
    inference = await start_inference(trio.all)

    reply = await inference.chat.AnalyzePortfolio(
        portfolio_request(trio.model, "p1"), metadata=inference.md()
    )

    m = reply.metrics
    assert (m.total_value_micro_usd, m.total_cost_micro_usd, m.total_pnl_micro_usd) == (
        340 * USD,
        300 * USD,
        40 * USD,
    )
    assert (m.total_return, m.day_return, m.volatility) == ("0.133333", "0.103896", "1.400226")
    assert (m.sharpe_ratio, m.max_drawdown, m.diversification_score) == (
        "11.561922",
        "0.037500",
        "0.415225",
    )
    assert [(p.symbol, p.weight, p.pnl_micro_usd) for p in m.positions] == [
        ("ETH", "0.705882", 40 * USD),
        ("UNI", "0.294118", 0),
    ]
    # The narrative and insights are the model's JSON fields, not its raw text.
    assert reply.narrative and not reply.narrative.startswith("{")
    assert 1 <= len(reply.insights) <= 5 and all(i.strip() for i in reply.insights)
    assert reply.usage.completion_tokens > 0 and int(reply.cost.fee_neuron) > 0
    assert reply.routing.provider.lower() == trio.cheap.provider.lower()
    assert reply.verification.status == pb.VERIFICATION_STATUS_PENDING
    checked = await inference.verification("p1")
    assert checked.verification.status == pb.VERIFICATION_STATUS_VERIFIED
    again = await inference.chat.AnalyzePortfolio(
        portfolio_request(trio.model, "p1"), metadata=inference.md()
    )
    assert again == reply


async def test_analyze_dream_parses_the_structured_reading(
    start_inference: StartInference, trio: Trio, devnet_w3: Web3
) -> None:
    inference = await start_inference(trio.all)
    broker = inference.broker
    dora = await funded_user(
        broker.stub, broker.md("inference"), devnet_w3, broker.account.address, A0GI
    )

    reply = await inference.chat.AnalyzeDream(
        pb.AnalyzeDreamRequest(
            request_id="d1",
            subject="user:dora",
            model=trio.model,
            dream="I was flying over a flooded city and my teeth fell out.",
            intent=dream_intent(dora, "d1"),
        ),
        metadata=inference.md(),
    )

    assert reply.interpretation and not reply.interpretation.startswith("{")
    assert 1 <= len(reply.symbols) <= 5
    assert all(s.symbol and s.meaning for s in reply.symbols)
    assert 1 <= len(reply.emotions) <= 5 and 1 <= len(reply.insights) <= 5
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    assert reply.verification.status == pb.VERIFICATION_STATUS_PENDING
    checked = await inference.verification("d1")
    assert checked.verification.status == pb.VERIFICATION_STATUS_VERIFIED


def _chat(response_format: object, max_tokens: int | None = None) -> ChatRequest:
    body: dict[str, object] = {
        "messages": [{"role": "user", "content": "read my dream"}],
        "response_format": response_format,
    }
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return ChatRequest.parse(json.dumps(body).encode())


def test_devnet_model_fills_the_requested_schema_deterministically() -> None:
    words = answer(_chat(insights.DREAM_FORMAT), "m")
    reading = insights.parse_dream(" ".join(words))
    assert reading.interpretation and reading.symbols and reading.emotions and reading.insights
    assert answer(_chat(insights.DREAM_FORMAT), "m") == words
    data = json.loads(" ".join(answer(_chat({"type": "json_object"}), "m")))
    assert isinstance(data, dict) and isinstance(data["answer"], str)
    typed = {
        "type": "json_schema",
        "json_schema": {
            "name": "t",
            "schema": {
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": 3, "maximum": 5},
                    "ok": {"type": "boolean"},
                    "kind": {"enum": ["a", "b"]},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                },
            },
        },
    }
    value = json.loads(" ".join(answer(_chat(typed), "m")))
    assert 3 <= value["n"] <= 5 and isinstance(value["ok"], bool) and value["kind"] in "ab"
    assert len(value["tags"]) >= 2 and all(isinstance(t, str) for t in value["tags"])
    # Cut at max_tokens like a real model: the JSON is then incomplete.
    assert len(answer(_chat(insights.DREAM_FORMAT, max_tokens=3), "m")) == 3
