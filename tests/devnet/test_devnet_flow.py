"""Flow and its market follow specs/zg-storage.md section 2: validity, fee, placement, events."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxParams, TxReceipt, Wei

from devnet import A0GI, load_abi
from devnet.deploy import Transactor
from tests.devnet.devnet_helpers import Storage, gas_cost, reverted
from tests.devnet.devnet_model import FileSubmission, file_submission, spec_content

FLOW_ABI = load_abi("Flow")
MARKET_ABI = load_abi("FixedPriceMarket")
ROOT = b"\x11" * 32
OTHER_ROOT = b"\x22" * 32


def _submit(
    storage: Storage, sender: Transactor, arg: tuple[object, ...], value: int
) -> tuple[TxReceipt, list[Any]]:
    receipt = sender.transact(storage.flow.functions.submit(arg), value=value)
    events = storage.flow.events.Submit().process_receipt(receipt, errors=DISCARD)
    return receipt, list(events)


def _fee(storage: Storage, submission: FileSubmission) -> int:
    return submission.sectors * storage.price


def test_spec_vector_submission_emits_submit_and_pays_exactly_the_fee(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount, deployer: Transactor
) -> None:
    # specs/zg-storage.md section 5: 262145 bytes -> 1025 chunks, padded 1152, heights [10, 7].
    vector = file_submission(spec_content(262145))
    assert "0x" + vector.root.hex() == (
        "0x1458412a6ece9f4f9dc83ade0c68037378ef3e10fe484cea5d451cc10c9212d0"
    )
    assert [h for _, h in vector.nodes] == [10, 7]
    submitter = deployer.account.address  # someone other than the payer: the event names them
    payer = Transactor(devnet_w3, funded_account)
    fee = _fee(storage, vector)
    balances_before = [
        devnet_w3.eth.get_balance(a)
        for a in (funded_account.address, storage.flow.address, storage.market.address)
    ]

    arg = vector.as_arg(submitter, tags=b"\x01\x02")
    call: TxParams = {"from": funded_account.address, "value": Wei(fee)}
    returned = storage.flow.functions.submit(arg).call(call)
    receipt, events = _submit(storage, payer, arg, fee)

    identity = keccak(b"".join(root for root, _ in vector.nodes))
    # The flow starts at length 1; a height-10 node aligns to the next multiple of 1024.
    assert tuple(returned) == (0, identity, 1024, 1152)
    [event] = events
    assert event.args.sender == submitter
    assert event.args.identity == identity
    assert (event.args.submissionIndex, event.args.startPos, event.args.length) == (0, 1024, 1152)
    data = event.args.submission
    assert (data["length"], data["tags"]) == (262145, b"\x01\x02")
    assert [(n["root"], n["height"]) for n in data["nodes"]] == vector.nodes
    topics = receipt["logs"][-1]["topics"]
    assert topics[1][-20:] == bytes.fromhex(submitter[2:])
    payer_after, flow_after, market_after = (
        devnet_w3.eth.get_balance(a)
        for a in (funded_account.address, storage.flow.address, storage.market.address)
    )
    assert market_after - balances_before[2] == fee == 1152 * storage.price
    assert flow_after == balances_before[1] == 0
    assert balances_before[0] - payer_after == fee + gas_cost(receipt)

    # A second file (4096 bytes, one height-4 node) goes right after, aligned to 16 sectors.
    small = file_submission(spec_content(4096))
    assert "0x" + small.root.hex() == (
        "0xaef6d19a4161f0fabc7a71f56477d1c829d6ba7967d6a987750ff67fbfb430a5"
    )
    _, [second] = _submit(storage, payer, small.as_arg(submitter), _fee(storage, small))
    assert (second.args.submissionIndex, second.args.startPos, second.args.length) == (1, 2176, 16)
    assert storage.flow.functions.submissionIndex().call() == 2
    assert storage.flow.functions.numSubmissions().call() == 2


def test_underpayment_reverts_not_enough_fee(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    submission = file_submission(spec_content(4097))  # heights [4, 1]: 18 sectors
    fee = _fee(storage, submission)

    error = reverted(
        FLOW_ABI, lambda: _submit(storage, payer, submission.as_arg(payer.account.address), fee - 1)
    )

    assert error.name == "NotEnoughFee"
    assert error.args == (storage.price, 18, fee - 1)
    assert storage.flow.functions.submissionIndex().call() == 0


def test_overpayment_stays_in_flow_and_counts_toward_later_fees(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    submission = file_submission(spec_content(768))  # heights [1, 0]: 3 sectors
    fee = _fee(storage, submission)
    arg = submission.as_arg(payer.account.address)

    _submit(storage, payer, arg, fee + 12345)
    assert devnet_w3.eth.get_balance(storage.flow.address) == 12345
    assert devnet_w3.eth.get_balance(storage.market.address) == fee

    # As in 0G's FixedPriceFlow the check is against the Flow's whole balance, so what an
    # earlier submitter left covers part of this one.
    _submit(storage, payer, arg, fee - 12345)
    assert devnet_w3.eth.get_balance(storage.flow.address) == 0
    assert devnet_w3.eth.get_balance(storage.market.address) == 2 * fee


INVALID = {
    "empty nodes": (256, []),
    "heights equal": (9 * 256, [(ROOT, 3), (OTHER_ROOT, 3)]),
    "heights rising": (3 * 256, [(ROOT, 0), (OTHER_ROOT, 1)]),
    "height span of 4": (33 * 256, [(ROOT, 5), (OTHER_ROOT, 1)]),
    "height 64": (2**64 * 256, [(ROOT, 64)]),
    "length over capacity": (16 * 256 + 1, [(ROOT, 4)]),
    "zero length": (0, [(ROOT, 0)]),
    "too much padding, small": (256, [(ROOT, 1)]),
    "too much padding, one node": (15 * 256, [(ROOT, 5)]),
    "too much padding, one node at the limit": (30 * 256, [(ROOT, 5)]),
    "too much padding, several nodes": (16 * 256, [(ROOT, 4), (OTHER_ROOT, 1)]),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_submissions_revert_invalid_submission(
    case: str, storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    length, nodes = INVALID[case]
    payer = Transactor(devnet_w3, funded_account)
    arg = ((length, b"", nodes), payer.account.address)

    error = reverted(FLOW_ABI, lambda: _submit(storage, payer, arg, 10 * A0GI))

    assert error.name == "InvalidSubmission"


def test_zero_submitter_is_invalid(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    arg = file_submission(b"x").as_arg("0x0000000000000000000000000000000000000000")

    assert reverted(FLOW_ABI, lambda: _submit(storage, payer, arg, A0GI)).name == (
        "InvalidSubmission"
    )


def test_limits_of_the_padding_rule_are_valid(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    for length, nodes in [
        (31 * 256 - 255, [(ROOT, 5)]),  # just above cap - cap/16 = 30 sectors
        (32 * 256, [(ROOT, 5)]),
        (16 * 256 + 1, [(ROOT, 4), (OTHER_ROOT, 1)]),  # just above cap - 2^(h0-3) = 16
        (1, [(ROOT, 0)]),
    ]:
        _submit(storage, payer, ((length, b"", nodes), payer.account.address), 10 * A0GI)
    assert storage.flow.functions.submissionIndex().call() == 4
