"""Portfolio metrics against figures worked out by hand on a small fixed fixture.

Fixture: 2 ETH bought for $200 with closes $100, $110, $99, $120, and 10 UNI bought for $100
with closes $10, $10, $11, $10. Portfolio value by day (today's quantities): 300, 320, 308, 340.
- values: ETH 2 x 120 = 240, UNI 10 x 10 = 100, total 340; cost 300; P&L +40 (ETH +40, UNI 0).
- total return 40/300 = 0.133333; ETH 40/200 = 0.2; UNI 0.
- day returns: ETH 120/99 - 1 = 0.212121; UNI 10/11 - 1 = -0.090909; portfolio 340/308 - 1
  = 0.103896.
- daily returns 1/15, -3/80, 8/77; mean 0.0443543; sample variance 0.00537160; std 0.0732912;
  volatility = std x sqrt(365) = 1.400226; Sharpe (rf 0) = mean/std x sqrt(365) = 11.561922;
  with rf 3.65% a year (0.0001 a day): (mean - 0.0001)/std x sqrt(365) = 11.535854.
- max drawdown: peak 320, trough 308: 12/320 = 0.0375.
- weights 240/340 = 0.705882, 100/340 = 0.294118; diversification 1 - (240² + 100²)/340²
  = 48000/115600 = 0.415225.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.inference.portfolio import (
    Holding,
    PortfolioInputError,
    compute,
    parse_quantity,
)

USD = 1_000_000
HOLDINGS = [Holding("ETH", Decimal(2), 200 * USD), Holding("UNI", Decimal(10), 100 * USD)]
PRICES = {
    "ETH": [100 * USD, 110 * USD, 99 * USD, 120 * USD],
    "UNI": [10 * USD] * 2 + [11 * USD, 10 * USD],
}


def test_metrics_match_the_hand_computed_figures() -> None:
    figures = compute(HOLDINGS, PRICES)

    assert figures.total_value_micro_usd == 340 * USD
    assert figures.total_cost_micro_usd == 300 * USD
    assert figures.total_pnl_micro_usd == 40 * USD
    assert figures.total_return == "0.133333"
    assert figures.day_return == "0.103896"
    assert figures.volatility == "1.400226"
    assert figures.sharpe_ratio == "11.561922"
    assert figures.max_drawdown == "0.037500"
    assert figures.diversification_score == "0.415225"
    eth, uni = figures.positions
    assert (eth.value_micro_usd, eth.pnl_micro_usd, eth.total_return) == (
        240 * USD,
        40 * USD,
        "0.200000",
    )
    assert (eth.day_return, eth.weight) == ("0.212121", "0.705882")
    assert (uni.value_micro_usd, uni.pnl_micro_usd, uni.total_return) == (100 * USD, 0, "0.000000")
    assert (uni.day_return, uni.weight) == ("-0.090909", "0.294118")


def test_sharpe_subtracts_the_daily_risk_free_rate() -> None:
    assert compute(HOLDINGS, PRICES, Decimal("0.0365")).sharpe_ratio == "11.535854"


def test_fractional_quantities_round_value_half_even_to_the_micro_dollar() -> None:
    # 0.0000005 x 1 micro-dollar... use a price where the product ends in exactly .5 micro.
    figures = compute([Holding("BTC", Decimal("0.5"), 0)], {"BTC": [5, 5]})
    assert figures.total_value_micro_usd == 2  # 2.5 -> 2 (half-even)
    assert figures.positions[0].total_return == ""  # zero cost basis: undefined
    assert figures.volatility == ""  # one daily return: undefined


def test_one_asset_has_no_diversification_and_flat_prices_have_no_sharpe() -> None:
    figures = compute([Holding("ETH", Decimal(1), 100)], {"ETH": [100, 100, 100]})
    assert figures.diversification_score == "0.000000"
    assert figures.volatility == "0.000000"
    assert figures.sharpe_ratio == ""
    assert figures.max_drawdown == "0.000000"


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(PortfolioInputError) as raised:
        compute(
            [
                Holding("ETH", Decimal(1), -1),
                Holding("ETH", Decimal(1), 0),
                Holding("DOGE", Decimal(1), 0),
            ],
            {"ETH": [1, 2], "DOGE": [0, 1, 2]},
        )
    problems = raised.value.problems
    assert problems["positions[0].cost_basis_micro_usd"] == "must not be negative"
    assert "appears twice" in problems["positions[1].symbol"]
    assert problems["price_history.DOGE"] == "prices must be positive"
    assert problems["price_history"] == "every series must have the same length"


@pytest.mark.parametrize("raw", ["", "abc", "-1", "0", "NaN", "Infinity"])
def test_bad_quantities_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(raw)
