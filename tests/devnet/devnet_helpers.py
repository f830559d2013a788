"""Helpers for devnet tests: fresh storage contracts, revert decoding, balances."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from eth_typing import ABI
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from devnet import contract, decode_error
from devnet.contracts import DecodedError
from devnet.deploy import Transactor, deploy_storage


@dataclass(frozen=True)
class Storage:
    """A Flow and its market, deployed for one test."""

    flow: Contract
    market: Contract
    price: int


def deploy_fresh_storage(
    w3: Web3, deployer: Transactor, price: int, blocks_per_epoch: int = 10**9
) -> Storage:
    deployment = deploy_storage(deployer, price, blocks_per_epoch)
    return Storage(
        flow=contract(w3, "Flow", deployment.flow),
        market=contract(w3, "FixedPriceMarket", deployment.market),
        price=price,
    )


def reverted(abi: ABI, action: Callable[[], object]) -> DecodedError:
    """Runs `action`, which must revert, and decodes the revert against `abi`."""
    with pytest.raises(ContractLogicError) as raised:
        action()
    data = raised.value.data
    assert isinstance(data, str), f"revert without data: {raised.value!r}"
    decoded = decode_error(abi, data)
    assert decoded is not None, f"undecodable revert {data}"
    return decoded


def gas_cost(receipt: TxReceipt) -> int:
    return receipt["gasUsed"] * receipt["effectiveGasPrice"]
