"""Every root, submission, fee, merkleNodes, segment root and upload payload of the SDK vectors."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from zerog_storage import (
    FileLayout,
    FileMerkleTree,
    SubmissionData,
    Transaction,
    check_segment_upload,
    fee_sectors,
    nodes_to_root,
)
from zerog_storage._hex import from_hex, to_hex
from zerog_storage.encryption import (
    aes_ctr,
    decrypt,
    derive_v2_key,
    encrypt_v1,
    encrypt_v2,
    parse_header,
)

from ._vectors import SHARED_VECTORS, VECTORS_COPY, content, tree_of, vectors

FILES: list[dict[str, Any]] = vectors()["files"]
EXTRAS: list[dict[str, Any]] = vectors()["extra_vectors_ts_1.2.8_checked_with_py_0.4.0"]
PAYLOADS = [(f["size"], p) for f in FILES for p in f["uploadSegments_ts_1.2.8"]]


def by_size(f: dict[str, Any]) -> str:
    return str(f["size"])


def test_committed_vectors_are_the_shared_ones() -> None:
    if not SHARED_VECTORS.exists():
        pytest.skip("shared/ is not beside the repository")
    assert VECTORS_COPY.read_bytes() == SHARED_VECTORS.read_bytes()


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_content_is_the_vectors_content(vec: dict[str, Any]) -> None:
    assert hashlib.sha256(content(vec["size"])).hexdigest() == vec["sha256"]


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_root_equals_every_sdk_root(vec: dict[str, Any]) -> None:
    root = to_hex(tree_of(vec["size"]).root)
    assert root == vec["root"]
    assert set(vec["roots_by_implementation"].values()) == {root}


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_layout_counts(vec: dict[str, Any]) -> None:
    layout = FileLayout(vec["size"])
    assert layout.chunks == vec["numChunks"]
    assert layout.padded_chunks == vec["flowPaddedChunks"]
    assert layout.data_segments == vec["numSegments_data"]
    assert layout.flow_segments == vec["numSegments_flowPadded"]


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_submission_fee_and_merkle_nodes(vec: dict[str, Any]) -> None:
    submission = tree_of(vec["size"]).submission()
    assert submission.to_json() == vec["submission"]
    assert SubmissionData.from_json(vec["submission"]) == submission
    assert fee_sectors(submission.nodes) == submission.sectors == vec["feeSectors"]
    rpc_nodes = [[depth, to_hex(root)] for depth, root in submission.merkle_nodes()]
    assert rpc_nodes == vec["node_rpc_merkleNodes"]
    assert to_hex(nodes_to_root(submission.nodes)) == vec["root"]


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_flow_padded_segment_roots(vec: dict[str, Any]) -> None:
    roots = [to_hex(r) for r in tree_of(vec["size"]).segment_roots]
    assert roots == vec["segmentRoots_flowPadded"]


@pytest.mark.parametrize(
    ("size", "expected"),
    PAYLOADS,
    ids=lambda v: str(v) if isinstance(v, int) else f"seg{v['index']}",
)
def test_upload_payload_is_byte_identical(size: int, expected: dict[str, Any]) -> None:
    tree = tree_of(size)
    payload = tree.segment_with_proof(expected["index"], _segment_bytes(size, expected["index"]))
    body = payload.to_json()
    assert body["root"] == expected["root"]
    assert body["index"] == expected["index"]
    assert body["fileSize"] == expected["fileSize"]
    assert body["proof"] == expected["proof"]
    assert len(payload.data) == expected["dataLen"]
    assert hashlib.sha256(payload.data).hexdigest() == expected["dataSha256"]
    if "dataBase64" in expected:
        assert body["data"] == expected["dataBase64"]
    assert list(body) == ["root", "data", "index", "proof", "fileSize"]


@pytest.mark.parametrize(
    ("size", "expected"),
    PAYLOADS,
    ids=lambda v: str(v) if isinstance(v, int) else f"seg{v['index']}",
)
def test_sdk_payload_passes_node_validation(size: int, expected: dict[str, Any]) -> None:
    tree = tree_of(size)
    payload = tree.segment_with_proof(expected["index"], _segment_bytes(size, expected["index"]))
    tx = Transaction(tree.root, tuple(tree.submission().merkle_nodes()), 0, size, 7)
    assert check_segment_upload(payload, tx) is False
    assert check_segment_upload(payload, None) is (size <= 10 * 1024 * 1024)


def _segment_bytes(size: int, index: int) -> bytes:
    start, end = FileLayout(size).segment_span(index)
    return content(size)[start:end]


@pytest.mark.parametrize("vec", FILES, ids=by_size)
def test_path_stream_and_bytes_agree(vec: dict[str, Any], tmp_path: Path) -> None:
    data = content(vec["size"])
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    by_bytes = tree_of(vec["size"])
    assert FileMerkleTree.from_path(path) == by_bytes
    assert FileMerkleTree.from_stream(io.BytesIO(data)) == by_bytes
    from_file = list(by_bytes.segments_from_path(path))
    assert from_file == list(by_bytes.segments_from_bytes(data))


@pytest.mark.parametrize("vec", EXTRAS, ids=lambda v: v["name"])
def test_extra_vectors(vec: dict[str, Any]) -> None:
    data = b"\x01" if vec["name"] == "one_byte_0x01" else content(vec["size"])
    assert len(data) == vec["size"]
    tree = FileMerkleTree.from_bytes(data)
    assert to_hex(tree.root) == vec["root"]
    assert [n.to_json() for n in tree.nodes] == vec["nodes"]
    assert len(tree.segment_roots) == vec["numSegmentsFlowPadded"]


def test_encrypted_v1_root_covers_header_and_ciphertext() -> None:
    v1 = vectors()["encryption_vectors_ts_1.2.8"]["v1"]
    encrypted = from_hex(v1["encrypted"])
    assert len(encrypted) == v1["encryptedSize"]
    assert to_hex(FileMerkleTree.from_bytes(encrypted).root) == v1["root"]


ENC = vectors()["encryption_vectors_ts_1.2.8"]
PLAINTEXT = content(1000)


def test_encryption_v1_is_byte_identical() -> None:
    v1 = ENC["v1"]
    assert ENC["plaintext"] == "bytes i%251, 1000 bytes"
    encrypted = encrypt_v1(from_hex(v1["key"]), PLAINTEXT, from_hex(v1["nonce"]))
    assert encrypted == from_hex(v1["encrypted"])
    assert decrypt(encrypted, key=from_hex(v1["key"])) == PLAINTEXT


def test_encryption_v2_key_ciphertext_and_decryption() -> None:
    v2 = ENC["v2"]
    priv, ephemeral = from_hex(v2["recipientPriv"]), from_hex(v2["ephemeralPub"])
    key = derive_v2_key(priv, ephemeral)
    assert key == from_hex(v2["derivedAesKey"])
    header = parse_header(from_hex(v2["encrypted"]))
    assert (header.version, header.ephemeral_pub, header.nonce) == (
        2,
        ephemeral,
        from_hex(v2["nonce"]),
    )
    assert header.encode() + aes_ctr(key, header.nonce, PLAINTEXT) == from_hex(v2["encrypted"])
    assert decrypt(from_hex(v2["encrypted"]), private_key=priv) == PLAINTEXT
    mine = encrypt_v2(from_hex(v2["recipientPubCompressed"]), PLAINTEXT)
    assert decrypt(mine, private_key=priv) == PLAINTEXT


def test_ctr_offsets_continue_across_fragments() -> None:
    key, nonce = os.urandom(32), b"\xff" * 16  # the counter wraps at 2**128
    whole = aes_ctr(key, nonce, PLAINTEXT)
    assert aes_ctr(key, nonce, PLAINTEXT[:37]) + aes_ctr(key, nonce, PLAINTEXT[37:], 37) == whole
