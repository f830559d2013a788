"""Submissions: the Flow contract's validity and fee rules, identity, ABI encodings, placement."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode
from hypothesis import given
from hypothesis import strategies as st

from zerog_storage import (
    BATCH_SUBMIT_SELECTOR,
    LEGACY_SUBMIT_SELECTOR,
    PRICE_PER_SECTOR_SELECTOR,
    SUBMIT_EVENT_TOPIC,
    SUBMIT_SELECTOR,
    ZERO_ADDRESS,
    FileLayout,
    FlowLog,
    InvalidSubmission,
    NotEnoughFee,
    ShardConfig,
    Submission,
    SubmissionData,
    SubmissionNode,
    SubmitEvent,
    check_submission,
    decode_submit_event,
    encode_batch_submit,
    encode_legacy_submit,
    encode_submit,
    encode_submit_event,
    keccak256,
    place_submission,
    segments_for_shard,
    storage_fee,
    submission_identity,
)
from zerog_storage._hex import to_hex

from ._vectors import tree_of, vectors

SUBMITTER = "0x00000000000000000000000000000000000000a1"
PRICE = 30_733_644_962  # neuron per sector: any int works, fees stay exact integers


def _sub(length: int, *heights: int) -> Submission:
    nodes = tuple(SubmissionNode(bytes([h]) * 32, h) for h in heights)
    return Submission(SubmissionData(length, b"", nodes), SUBMITTER)


def test_every_vector_submission_is_valid_and_priced() -> None:
    for vec in vectors()["files"]:
        data = SubmissionData.from_json(vec["submission"])
        check_submission(Submission(data, SUBMITTER))
        fee = storage_fee(data.nodes, PRICE)
        assert fee == vec["feeSectors"] * PRICE == data.fee(PRICE)
        assert isinstance(fee, int)
        check_submission(Submission(data, SUBMITTER), price_per_sector=PRICE, paid=fee)


@given(size=st.integers(min_value=1, max_value=2**40))
def test_layout_of_any_size_makes_a_valid_submission(size: int) -> None:
    layout = FileLayout(size)
    nodes = tuple(SubmissionNode(bytes(32), h) for h in layout.heights)
    check_submission(Submission(SubmissionData(size, b"", nodes), SUBMITTER))
    assert sum(1 << h for h in layout.heights) == layout.padded_chunks
    assert len(nodes) <= 4


@pytest.mark.parametrize(
    ("submission", "reason"),
    [
        (Submission(_sub(256, 0).data, ZERO_ADDRESS), "submitter is the zero address"),
        (_sub(256), "no nodes"),
        (_sub(2000, 3, 3), "not strictly decreasing"),
        (_sub(2000, 2, 3), "not strictly decreasing"),
        (_sub(5000, 4, 0), "span 4 or more"),
        (_sub(2**72, 64), "out of range"),
        (_sub(16 * 256 + 1, 4), "exceeds 16 sectors"),
        (_sub(2 * 256, 1, 0), "excess padding"),  # 2 chunks fit a single height-1 node
        (_sub(1024 * 256, 10, 7), "excess padding"),  # exactly 1024 chunks need no [10, 7]
        (_sub(15 * 256 * 16, 8), "excess padding"),  # 3840 chunks fit [11, 10, 9, 8] not [12]
    ],
)
def test_invalid_submissions_are_refused(submission: Submission, reason: str) -> None:
    with pytest.raises(InvalidSubmission) as raised:
        check_submission(submission)
    assert reason in raised.value.reason
    assert raised.value.revert_data() == keccak256(b"InvalidSubmission()")[:4]


def test_boundaries_of_the_length_rule() -> None:
    check_submission(_sub(1024 * 256 + 1, 10, 7))
    check_submission(_sub(1152 * 256, 10, 7))
    check_submission(_sub(3 * 256, 1, 0))
    check_submission(_sub(1, 0))


def test_underpaying_reverts_not_enough_fee() -> None:
    sub = _sub(1024 * 256 + 1, 10, 7)
    with pytest.raises(NotEnoughFee) as raised:
        check_submission(sub, price_per_sector=PRICE, paid=1152 * PRICE - 1)
    err = raised.value
    assert (err.price, err.amount, err.paid) == (PRICE, 1152, 1152 * PRICE - 1)
    selector = keccak256(b"NotEnoughFee(uint256,uint256,uint256)")[:4]
    assert err.revert_data()[:4] == selector
    assert decode(["uint256"] * 3, err.revert_data()[4:]) == (PRICE, 1152, 1152 * PRICE - 1)
    check_submission(sub, price_per_sector=PRICE, paid=1152 * PRICE + 5)  # overpaying is allowed


def test_identity_is_keccak_of_packed_roots() -> None:
    nodes = tree_of(4194427).nodes
    assert submission_identity(nodes) == keccak256(nodes[0].root + nodes[1].root)


def test_selectors_and_topic_are_the_specs() -> None:
    assert SUBMIT_SELECTOR.hex() == "bc8c11f8"
    assert BATCH_SUBMIT_SELECTOR.hex() == "49aa3395"
    assert LEGACY_SUBMIT_SELECTOR.hex() == "ef3e12dc"
    assert PRICE_PER_SECTOR_SELECTOR.hex() == "61ec5082"
    assert to_hex(SUBMIT_EVENT_TOPIC) == (
        "0x167ce04d2aa1981994d3a31695da0d785373335b1078cec239a1a3a2c7675555"
    )


def test_calldata_round_trips() -> None:
    data = tree_of(4194427).submission(b"\x01\x02")
    sub = Submission(data, SUBMITTER)
    data_type = "(uint256,bytes,(bytes32,uint256)[])"
    call = encode_submit(sub)
    assert call[:4] == SUBMIT_SELECTOR
    ((decoded, submitter),) = decode([f"({data_type},address)"], call[4:])
    assert SubmissionData.from_abi(decoded) == data and submitter == SUBMITTER
    (legacy,) = decode([data_type], encode_legacy_submit(data)[4:])
    assert SubmissionData.from_abi(legacy) == data
    (batch,) = decode([f"({data_type},address)[]"], encode_batch_submit([sub, sub])[4:])
    assert len(batch) == 2


def test_submit_event_round_trip_and_tx_record() -> None:
    tree = tree_of(262145)
    data = tree.submission()
    placement = place_submission(1, [n.height for n in data.nodes])
    event = SubmitEvent(SUBMITTER, data.identity, 3, placement.start_pos, placement.sectors, data)
    topics, payload = encode_submit_event(event)
    assert decode_submit_event(topics, payload) == event
    tx = event.to_transaction()
    assert tx.data_merkle_root == tree.root
    assert tx.merkle_nodes == ((11, data.nodes[0].root), (8, data.nodes[1].root))
    assert (tx.start_entry_index, tx.size, tx.seq) == (1024, 262145, 3)


def test_placement_rules() -> None:
    assert place_submission(1, [0]).start_pos == 1  # the flow starts at length 1
    assert place_submission(1, [4]).start_pos == 16
    assert place_submission(1, [10, 7]).node_starts == (1024, 2048)
    assert place_submission(1000, [4]).start_pos == 1008  # 1008..1023 stays in one segment
    crossing = place_submission(1000, [4, 3])  # 24 sectors from 1008 would cross 1024
    assert crossing.node_starts == (1024, 1040)
    assert crossing.end == 1048 and crossing.sectors == 24
    assert place_submission(1025, [14, 11]).node_starts == (16384, 32768)


def test_flow_log_and_sharding() -> None:
    flow = FlowLog()
    first = flow.append([0])
    second = flow.append([10, 7])
    third = flow.append([2, 0])
    assert (first.start_pos, second.start_pos, third.start_pos) == (1, 1024, 2176)
    assert flow.length == 2181
    shard = ShardConfig(1, 4)
    assert segments_for_shard(second.start_pos, 2, shard) == [0]
    assert segments_for_shard(3 * 1024, 9, ShardConfig(0, 2)) == [1, 3, 5, 7]
    with pytest.raises(ValueError):
        ShardConfig(0, 3)
