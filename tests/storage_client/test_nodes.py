"""Node discovery (fixed URLs, the indexer), replica capacity and selection over shards, and
downloads that fail over on a bad proof and end in DataLost when no copy proves."""

from __future__ import annotations

import os

import pytest

from devnet.storage_node import StorageNetwork, StorageNodeProcess
from tests.storage_client.conftest import FAST, ChainSubmitter
from zerog_storage import (
    SEGMENT_SIZE,
    DataLost,
    Downloader,
    NodeSet,
    NodesUnavailable,
    NotEnoughReplicas,
    Uploader,
    replica_capacity,
    select_nodes,
)


def _by_url(network: StorageNetwork) -> dict[str, StorageNodeProcess]:
    return {n.url: n for n in network.nodes}


async def test_capacity_and_selection_over_shards(
    mixed_network: StorageNetwork, mixed_nodes: NodeSet
) -> None:
    full, half0, half1 = (n.url for n in mixed_network.nodes)
    found = await mixed_nodes.discover()
    assert sorted(n.url for n in found) == sorted([full, half0, half1])
    # The full node is one copy, the two halves together another.
    assert replica_capacity(found) == 2
    assert [n.url for n in select_nodes(found, 1)] == [full]
    assert sorted(n.url for n in select_nodes(found, 2)) == sorted([full, half0, half1])
    with pytest.raises(NotEnoughReplicas) as caught:
        select_nodes(found, 3)
    assert (caught.value.wanted, caught.value.available) == (3, 2)
    halves = [n for n in found if n.url != full]
    assert replica_capacity(halves) == 1
    assert replica_capacity([n for n in found if n.url == half0]) == 0


async def test_indexer_discovery_and_unreachable_nodes(mixed_network: StorageNetwork) -> None:
    listed = NodeSet(indexer_url=mixed_network.indexer.url)
    dead = NodeSet(["http://127.0.0.1:9"])
    mixed = NodeSet(["http://127.0.0.1:9"], indexer_url=mixed_network.indexer.url)
    try:
        found = await listed.discover()
        assert sorted(n.url for n in found) == sorted(n.url for n in mixed_network.nodes)
        assert {(n.shard.shard_id, n.shard.num_shard) for n in found} == {(0, 1), (0, 2), (1, 2)}
        # An unreachable fixed URL is skipped while the indexer's nodes answer...
        assert len(await mixed.discover()) == 3
        # ...and with nothing reachable the set says so.
        with pytest.raises(NodesUnavailable):
            await dead.discover()
    finally:
        for nodes in (listed, dead, mixed):
            await nodes.aclose()


async def test_two_replicas_over_shards_fail_over_then_data_lost(
    mixed_network: StorageNetwork, mixed_nodes: NodeSet, submitter: ChainSubmitter
) -> None:
    data = os.urandom(3 * SEGMENT_SIZE + 10)  # four segments, over both halves
    done = await Uploader(mixed_nodes, submitter, FAST).upload(
        data, request_id="two-replicas", replicas=2
    )
    assert sorted(done.nodes) == sorted(n.url for n in mixed_network.nodes)
    downloader = Downloader(mixed_nodes)
    located = await downloader.locate(done.root, len(data), done.tx_seq)
    processes = _by_url(mixed_network)
    holders = [processes[n.url] for n in located.holders(1)]
    assert len(holders) == 2

    # One bad copy: the proof check rejects it and the other replica serves the segment.
    assert holders[0].corrupt_segment(done.root, 1)
    assert await downloader.download(done.root, len(data), done.tx_seq) == data
    report = await downloader.check(done.root, len(data), done.tx_seq)
    assert report.min_good == 1 and not report.lost
    assert "bad proof" in report.segments[1].bad[holders[0].url]

    # Every copy bad: DataLost naming each node and why, never the corrupted bytes.
    assert holders[1].corrupt_segment(done.root, 1)
    with pytest.raises(DataLost) as caught:
        await downloader.download(done.root, len(data), done.tx_seq)
    assert caught.value.segment == 1
    assert set(caught.value.reasons) == {h.url for h in holders}
    assert all(why.startswith("bad proof") for why in caught.value.reasons.values())


async def test_download_fails_over_when_a_node_is_down(
    mixed_network: StorageNetwork, mixed_nodes: NodeSet, submitter: ChainSubmitter
) -> None:
    data = os.urandom(2 * SEGMENT_SIZE + 1)
    done = await Uploader(mixed_nodes, submitter, FAST).upload(
        data, request_id="outage", replicas=2
    )
    downloader = Downloader(mixed_nodes)
    located = await downloader.locate(done.root, len(data), done.tx_seq)
    mixed_network.nodes[0].set_faults(outage=True)  # the full node: halves must serve it all
    segments = [downloader.segment(located, i) for i in range(located.layout.data_segments)]
    assert b"".join([await s for s in segments]) == data
