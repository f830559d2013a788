"""Flow placement across segments, flow root, batchSubmit, pause, market admin and epochs."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxParams, Wei

from devnet import Devnet, load_abi
from devnet.deploy import Transactor
from tests.devnet.devnet_helpers import Storage, deploy_fresh_storage, reverted
from tests.devnet.devnet_model import FlowModel, file_submission, padded_chunks, spec_content

FLOW_ABI = load_abi("Flow")
MARKET_ABI = load_abi("FixedPriceMarket")

# (chunks, heights, expected startPos), worked out by hand from the spec's placement rule.
SEQUENCE = [
    (16, [4], 16),  # flow length 1 -> aligned to 16
    (1024, [10], 1024),  # aligned to 1024 (length was 32)
    (2, [1], 2048),  # length 2048 is already aligned
    (900, [9, 8, 7, 6], 3072),  # 960 sectors: aligned 2560 would cross 3072 -> jump to 3072
    (17, [4, 1], 4032),  # 18 sectors at 4032: offset 960 + 18 <= 1024, stays
    (3, [1, 0], 4050),  # nodes at 4050 (h1) and 4052 (h0)
    (1792, [10, 9, 8], 4096),  # multi-segment file starts on a segment boundary
    (100, [6, 5, 3], 5888),  # 104 sectors: offset 768 + 104 <= 1024, stays
    (200, [7, 6, 4], 6144),  # 208 sectors: aligned 6016 (offset 896) would cross -> 6144
    (1, [0], 6352),  # a single sector right after
]


def test_placement_follows_the_spec_rule_across_segment_boundaries(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    model = FlowModel()
    for seq, (chunks, heights, expected_start) in enumerate(SEQUENCE):
        assert padded_chunks(chunks) == sum(1 << h for h in heights)
        submission = file_submission(spec_content(chunks * 256 - 7 if chunks > 1 else 5))
        assert [h for _, h in submission.nodes] == heights
        fee = submission.sectors * storage.price

        receipt = payer.transact(
            storage.flow.functions.submit(submission.as_arg(payer.account.address)), value=fee
        )

        [event] = storage.flow.events.Submit().process_receipt(receipt, errors=DISCARD)
        assert event.args.submissionIndex == seq
        assert event.args.startPos == expected_start == model.place(submission.nodes)
        assert storage.flow.functions.getFlowRootByTxSeq(seq).call() == model.root()
        length, unstaged_height = storage.flow.functions.tree().call()
        assert length == model.length
        assert unstaged_height == (length - 1).bit_length() + 1
    assert storage.flow.functions.computeFlowRoot().call() == model.root()


def test_batch_submit_places_each_submission_and_charges_the_sum(
    storage: Storage, devnet_w3: Web3, funded_account: LocalAccount
) -> None:
    payer = Transactor(devnet_w3, funded_account)
    first, second = file_submission(spec_content(4096)), file_submission(spec_content(257))
    args = [first.as_arg(payer.account.address), second.as_arg(payer.account.address)]
    fee = (first.sectors + second.sectors) * storage.price

    short = reverted(
        FLOW_ABI, lambda: payer.transact(storage.flow.functions.batchSubmit(args), value=fee - 1)
    )
    assert short.name == "NotEnoughFee"
    call: TxParams = {"from": payer.account.address, "value": Wei(fee)}
    returned = storage.flow.functions.batchSubmit(args).call(call)
    receipt = payer.transact(storage.flow.functions.batchSubmit(args), value=fee)

    events = storage.flow.events.Submit().process_receipt(receipt, errors=DISCARD)
    assert [(e.args.submissionIndex, e.args.startPos, e.args.length) for e in events] == [
        (0, 16, 16),
        (1, 32, 2),
    ]
    identities = [e.args.identity for e in events]
    assert [list(column) for column in returned] == [[0, 1], identities, [16, 32], [16, 2]]
    assert devnet_w3.eth.get_balance(storage.market.address) == fee


def test_pause_stops_submissions_and_only_the_pauser_may_pause(
    storage: Storage, devnet_w3: Web3, deployer: Transactor, funded_account: LocalAccount
) -> None:
    stranger = Transactor(devnet_w3, funded_account)
    flow = storage.flow
    pauser_role = flow.functions.PAUSER_ROLE().call()
    assert flow.functions.getRoleMember(pauser_role, 0).call() == deployer.account.address
    assert flow.functions.getRoleMemberCount(pauser_role).call() == 1

    denied = reverted(FLOW_ABI, lambda: stranger.transact(flow.functions.pause()))
    assert denied.name == "AccessControlUnauthorizedAccount"
    assert denied.args == (funded_account.address, pauser_role)

    deployer.transact(flow.functions.pause())
    submission = file_submission(b"hello").as_arg(funded_account.address)
    paused = reverted(
        FLOW_ABI,
        lambda: stranger.transact(flow.functions.submit(submission), value=storage.price),
    )
    assert paused.name == "EnforcedPause"
    deployer.transact(flow.functions.unpause())
    stranger.transact(flow.functions.submit(submission), value=storage.price)
    assert flow.functions.paused().call() is False


def test_market_views_admin_and_flow_only_charging(
    storage: Storage, devnet_w3: Web3, deployer: Transactor, funded_account: LocalAccount
) -> None:
    market, stranger = storage.market, Transactor(devnet_w3, funded_account)
    assert market.functions.flow().call() == storage.flow.address
    assert market.functions.reward().call() == "0x0000000000000000000000000000000000000000"
    assert storage.flow.functions.market().call() == market.address

    charge = reverted(MARKET_ABI, lambda: stranger.transact(market.functions.chargeFee(1, 1, 0)))
    assert charge.name == "Error"
    assert "not the flow" in charge.args[0]
    price = reverted(MARKET_ABI, lambda: stranger.transact(market.functions.setPricePerSector(1)))
    assert price.name == "AccessControlUnauthorizedAccount"
    again = reverted(
        MARKET_ABI,
        lambda: deployer.transact(
            market.functions.initialize(1, storage.flow.address, market.address)
        ),
    )
    assert again.name == "InvalidInitialization"

    deployer.transact(market.functions.setPricePerSector(storage.price * 2))
    assert market.functions.pricePerSector().call() == storage.price * 2


def test_epochs_close_with_a_context_and_a_range_of_positions(
    running_devnet: Devnet, devnet_w3: Web3, deployer: Transactor, funded_account: LocalAccount
) -> None:
    storage = deploy_fresh_storage(devnet_w3, deployer, running_devnet.state.price_per_sector, 3)
    flow, payer = storage.flow, Transactor(devnet_w3, funded_account)
    first_block = flow.functions.firstBlock().call()
    assert flow.functions.blocksPerEpoch().call() == 3
    assert flow.functions.getContext().call()[0] == 0
    submission = file_submission(spec_content(4096))
    payer.transact(
        flow.functions.submit(submission.as_arg(payer.account.address)),
        value=submission.sectors * storage.price,
    )
    root = flow.functions.computeFlowRoot().call()
    # Epoch 1 ends at firstBlock + 3: mine up to it, so makeContext's block is just past it.
    devnet_w3.provider.make_request(
        RPCEndpoint("anvil_mine"), [first_block + 3 - devnet_w3.eth.block_number]
    )

    receipt = payer.transact(flow.functions.makeContext())

    [new_epoch] = flow.events.NewEpoch().process_receipt(receipt, errors=DISCARD)
    assert flow.functions.epoch().call() == new_epoch.args.index == 1
    epoch, mine_start, flow_root, flow_length, block_digest, digest = (
        flow.functions.getContext().call()
    )
    assert (epoch, mine_start, flow_root, flow_length) == (1, first_block + 3, root, 32)
    assert block_digest == devnet_w3.eth.get_block(first_block + 3)["hash"]
    assert new_epoch.args.context == digest
    assert flow.functions.getEpochRangeHistory(0).call() == (0, 32, digest)
    assert flow.functions.getEpochRange(digest).call() == (0, 32)
    assert flow.functions.epochStartPosition().call() == 32
    assert flow.functions.queryContextAtPosition(20).call() == (0, 32, digest)
