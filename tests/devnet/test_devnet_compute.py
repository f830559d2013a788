"""The real 0G compute contracts answer on the devnet, behind initialised ERC1967 proxies."""

from __future__ import annotations

from functools import partial

from eth_account.signers.local import LocalAccount
from web3 import Web3

from devnet import A0GI, Devnet, contract, load_abi
from devnet.deploy import Transactor
from tests.devnet.devnet_helpers import reverted

# keccak256("eip1967.proxy.implementation") - 1
IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC


def test_inference_service_is_registered_as_inference_v1_0(running_devnet: Devnet) -> None:
    state = running_devnet.state
    ledger = running_devnet.contracts().ledger

    info = ledger.functions.getServiceInfo(state.contracts.inference_serving).call()

    assert info[4] == "inference-v1.0"  # fullName
    assert state.inference_service_name == "inference-v1.0"
    assert (info[2], info[3]) == ("inference", "v1.0")  # serviceType, version


def test_add_ledger_with_3_a0gi_shows_in_get_ledger(
    running_devnet: Devnet, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    ledger = running_devnet.contracts(devnet_w3).ledger
    user = Transactor(devnet_w3, funded_account)

    user.transact(ledger.functions.addLedger(""), value=3 * A0GI)

    assert ledger.functions.getLedger(funded_account.address).call() == (
        funded_account.address,
        3 * A0GI,
        3 * A0GI,
        "",
    )


def test_add_ledger_below_minimum_reverts_with_the_custom_error(
    running_devnet: Devnet, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    ledger = running_devnet.contracts(devnet_w3).ledger
    user = Transactor(devnet_w3, funded_account)

    error = reverted(
        load_abi("LedgerManager"),
        lambda: user.transact(ledger.functions.addLedger(""), value=3 * A0GI - 1),
    )

    assert error.name == "MinimumDepositRequired"
    assert error.args == (3 * A0GI - 1, 3 * A0GI)
    no_ledger = reverted(
        load_abi("LedgerManager"),
        lambda: ledger.functions.getLedger(funded_account.address).call(),
    )
    assert no_ledger.name == "LedgerNotExists"


def test_proxies_point_at_locked_implementations_and_are_owned_by_the_deployer(
    running_devnet: Devnet, devnet_w3: Web3, deployer: Transactor
) -> None:
    state = running_devnet.state
    addresses = state.contracts
    owner = state.deployer.address
    ledger_impl = contract(devnet_w3, "LedgerManager", addresses.ledger_manager_implementation)
    inference_impl = contract(
        devnet_w3, "InferenceServing", addresses.inference_serving_implementation
    )
    cases = [
        (addresses.ledger_manager, ledger_impl, ledger_impl.functions.initialize(owner)),
        (
            addresses.inference_serving,
            inference_impl,
            inference_impl.functions.initialize(3600, addresses.ledger_manager, owner),
        ),
    ]
    for proxy, implementation, initialize in cases:
        slot = devnet_w3.eth.get_storage_at(Web3.to_checksum_address(proxy), IMPLEMENTATION_SLOT)
        assert Web3.to_checksum_address(slot[-20:]) == implementation.address
        proxied = devnet_w3.eth.contract(
            address=Web3.to_checksum_address(proxy), abi=implementation.abi
        )
        assert proxied.functions.owner().call() == owner
        # The implementations' constructors lock them: only the proxies are usable.
        error = reverted(implementation.abi, partial(deployer.transact, initialize))
        assert error.name == "AlreadyInitialized"

    inference = running_devnet.contracts(devnet_w3).inference
    assert inference.functions.lockTime().call() == state.lock_time
    assert inference.functions.ledgerAddress().call() == addresses.ledger_manager
