"""Devnet fixtures: one running devnet per test session, fresh accounts and fresh Flow contracts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import RPCEndpoint

from devnet import A0GI, Devnet, DevnetConfig
from devnet.deploy import Transactor
from tests.devnet.devnet_helpers import Storage, deploy_fresh_storage


@pytest.fixture(scope="session")
def running_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A devnet (anvil + deployed contracts + funded wallets) shared by the whole session.

    Its state file is in a temporary directory (running_devnet.config.state_path), so it never
    touches devnet/state/devnet.json of a developer's `python -m devnet`.
    """
    state_path = tmp_path_factory.mktemp("devnet") / "devnet.json"
    with Devnet.start(DevnetConfig(state_path=state_path)) as net:
        yield net


@pytest.fixture(scope="session")
def devnet_w3(running_devnet: Devnet) -> Web3:
    return running_devnet.web3()


@pytest.fixture(scope="session")
def deployer(running_devnet: Devnet, devnet_w3: Web3) -> Transactor:
    """Sends as the contracts' owner. One instance per session, as it tracks the nonce."""
    return Transactor(devnet_w3, running_devnet.state.deployer.account())


@pytest.fixture
def funded_account(devnet_w3: Web3) -> LocalAccount:
    """A brand-new account holding 1000 A0GI, so tests never share chain state by accident."""
    account: LocalAccount = Account.create()
    devnet_w3.provider.make_request(
        RPCEndpoint("anvil_setBalance"), [account.address, hex(1000 * A0GI)]
    )
    return account


@pytest.fixture
def storage(running_devnet: Devnet, devnet_w3: Web3, deployer: Transactor) -> Storage:
    """A new Flow + FixedPriceMarket pair (flow length 1, no retained fees, no epochs)."""
    return deploy_fresh_storage(devnet_w3, deployer, running_devnet.state.price_per_sector)
