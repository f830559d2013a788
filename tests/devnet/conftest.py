"""Devnet test fixtures beyond the shared ones in tests/conftest.py: fresh Flow contracts."""

from __future__ import annotations

import pytest
from web3 import Web3

from devnet import Devnet
from devnet.deploy import Transactor
from tests.devnet.devnet_helpers import Storage, deploy_fresh_storage


@pytest.fixture
def storage(running_devnet: Devnet, devnet_w3: Web3, deployer: Transactor) -> Storage:
    """A new Flow + FixedPriceMarket pair (flow length 1, no retained fees, no epochs)."""
    return deploy_fresh_storage(devnet_w3, deployer, running_devnet.state.price_per_sector)
