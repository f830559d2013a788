"""The C keccak level hasher: raw keccak256 known answers, and the same trees as safe-pysha3."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from Crypto.Hash import keccak as cryptodome_keccak
from sha3 import keccak_256

from zerog_storage import SEGMENT_SIZE, FileMerkleTree, TreeBuilder, hashing, keccak_native
from zerog_storage.errors import EmptyFile
from zerog_storage.keccak_native import NativeKeccak
from zerog_storage.native_build import build

from ._vectors import content, vectors

FILES: list[dict[str, Any]] = vectors()["files"]
EXTRAS: list[dict[str, Any]] = vectors()["extra_vectors_ts_1.2.8_checked_with_py_0.4.0"]
# Ethereum's published keccak256 of "" and of "abc" (not SHA3-256, whose padding differs).
KNOWN = {
    b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
}
# Around the 136-byte rate (the padding byte alone, 0x01 and 0x80 in one byte, a new block) and
# the node sizes the tree hashes (64-byte pairs, 256-byte chunks).
LENGTHS = [0, 1, 3, 63, 64, 65, 134, 135, 136, 137, 255, 256, 257, 271, 272, 273, 1000, 4096]
# Chunk counts: one chunk, odd, non-power-of-two, one segment, segments plus a ragged tail.
SIZES = [
    1,
    255,
    256,
    257,
    5 * 256 + 1,
    1000 * 256,
    SEGMENT_SIZE - 1,
    SEGMENT_SIZE,
    SEGMENT_SIZE + 1,
    3 * SEGMENT_SIZE + 777,
    17 * SEGMENT_SIZE,
    33 * SEGMENT_SIZE + 256 * 3,
]


# `make install` goes on without a C compiler (safe-pysha3 hashes then); with one, the library
# must have been built.
NO_CC = shutil.which((os.environ.get("CC") or "cc").split()[0]) is None
needs_cc = pytest.mark.skipif(NO_CC, reason="no C compiler: the C keccak cannot be built")


@pytest.fixture(scope="module")
def native() -> NativeKeccak:
    lib = keccak_native.load()
    if lib is None and NO_CC:
        pytest.skip("no C compiler: the C keccak is not built, safe-pysha3 hashes")
    assert lib is not None, f"{keccak_native.LIBRARY} is not built: run `make install`"
    return lib


def with_fallback(fn: Any, *args: Any) -> Any:
    """fn(*args) with safe-pysha3 hashing every node, then the native library restored."""
    hashing.use_native(False)
    try:
        return fn(*args)
    finally:
        hashing.use_native(True)


def reference(data: bytes) -> bytes:
    """keccak256 by pycryptodome (eth_hash's backend here), independent of pysha3 and ours."""
    return cryptodome_keccak.new(digest_bits=256, data=data).digest()


def test_known_answers(native: NativeKeccak) -> None:
    for message, digest in KNOWN.items():
        assert native.keccak256(message).hex() == digest
        assert reference(message).hex() == digest


@pytest.mark.parametrize("length", LENGTHS)
def test_keccak256_matches_pysha3_and_pycryptodome(native: NativeKeccak, length: int) -> None:
    data = os.urandom(length)
    expected = keccak_256(data).digest()
    assert reference(data) == expected
    assert native.keccak256(data) == expected
    assert native.keccak256(bytearray(data)) == expected
    assert native.keccak256(memoryview(data)) == expected


def test_nodes_and_subtrees_from_every_buffer_kind(native: NativeKeccak) -> None:
    data = os.urandom(3 * 4 * 256 + 100)
    leaves = [keccak_256(data[100 + i * 256 : 100 + (i + 1) * 256]).digest() for i in range(12)]
    level = leaves
    while len(level) > 3:  # subtrees of height 2 (4 leaves each): 3 roots
        level = [keccak_256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    for buf in (data, bytearray(data), memoryview(data), memoryview(bytearray(data))):
        assert native.hash_nodes(buf, 256, 12, offset=100) == b"".join(leaves)
        assert native.subtree_roots(buf, 256, 2, 3, offset=100) == b"".join(level)
    assert native.hash_nodes(data, 256, 0) == b""
    with pytest.raises(ValueError, match="exceed the buffer"):
        native.hash_nodes(data, 256, 13, offset=100)


@pytest.mark.parametrize("vec", FILES, ids=lambda v: str(v["size"]))
def test_fallback_gives_every_vector_root(native: NativeKeccak, vec: dict[str, Any]) -> None:
    data = content(vec["size"])
    fallback = with_fallback(FileMerkleTree.from_bytes, data)
    assert "0x" + fallback.root.hex() == vec["root"]
    assert ["0x" + r.hex() for r in fallback.segment_roots] == vec["segmentRoots_flowPadded"]
    assert FileMerkleTree.from_bytes(data) == fallback


@pytest.mark.parametrize("vec", EXTRAS, ids=lambda v: v["name"])
def test_fallback_gives_every_extra_root(native: NativeKeccak, vec: dict[str, Any]) -> None:
    data = b"\x01" if vec["name"] == "one_byte_0x01" else content(vec["size"])
    fallback = with_fallback(FileMerkleTree.from_bytes, data)
    assert "0x" + fallback.root.hex() == vec["root"]
    assert FileMerkleTree.from_bytes(data) == fallback


@pytest.mark.parametrize("size", SIZES)
def test_native_and_fallback_trees_are_identical(native: NativeKeccak, size: int) -> None:
    data = os.urandom(size)
    fallback = with_fallback(FileMerkleTree.from_bytes, data)
    ours = FileMerkleTree.from_bytes(data)
    assert ours == fallback  # root, every level and every submission node
    assert ours.proof(len(ours.segment_roots) - 1) == fallback.proof(len(ours.segment_roots) - 1)


def test_empty_file_is_refused_on_both_paths(native: NativeKeccak) -> None:
    with pytest.raises(EmptyFile):
        TreeBuilder().finish()
    with pytest.raises(EmptyFile):
        with_fallback(TreeBuilder().finish)


def test_use_native_reports_which_hasher_is_in_use(native: NativeKeccak) -> None:
    assert with_fallback(hashing.use_native, False) is False
    assert hashing.use_native(True) is True


def test_missing_or_foreign_library_falls_back_with_a_debug_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = tmp_path / "foreign.so"
    foreign.write_bytes(b"not an ELF file")
    with caplog.at_level(logging.DEBUG, logger="zerog_storage.keccak_native"):
        assert keccak_native.load(tmp_path / "missing.so") is None
        assert keccak_native.load(foreign) is None
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert "safe-pysha3" in caplog.records[0].getMessage()


@needs_cc
def test_build_writes_a_loadable_library(tmp_path: Path) -> None:
    out = build(tmp_path / "keccak.so")
    lib = keccak_native.load(out)
    assert lib is not None
    assert lib.keccak256(b"abc").hex() == KNOWN[b"abc"]
    assert list(tmp_path.iterdir()) == [out]  # the temporary file was renamed, nothing left
