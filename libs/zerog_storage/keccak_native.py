"""ctypes binding of the C keccak-256 level hasher (native/keccak_levels.c), when it is built."""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

__all__ = ["ABI_VERSION", "LIBRARY", "SOURCE", "NativeKeccak", "load"]

Buffer = bytes | bytearray | memoryview

SOURCE = Path(__file__).parent / "native" / "keccak_levels.c"
# Built beside this module by `make install` (python -m zerog_storage.native_build); not in git.
LIBRARY = Path(__file__).with_name("_keccak_levels.so")
# Must equal ZG_ABI_VERSION in the C source: a library built from an older source is not used.
ABI_VERSION = 1
DIGEST_SIZE = 32

_log = logging.getLogger(__name__)
_size_t = ctypes.c_size_t
_ptr = ctypes.c_void_p


def _bytes_address(data: bytes) -> int:
    # c_char_p points into the bytes object itself: no copy.
    return ctypes.cast(ctypes.c_char_p(data), _ptr).value or 0


def _address(data: Buffer, offset: int, nbytes: int) -> tuple[int, object]:
    """Address of data[offset:offset + nbytes] and the object keeping it alive during a call."""
    if offset < 0 or nbytes < 0 or offset + nbytes > memoryview(data).nbytes:
        raise ValueError(f"{nbytes} bytes at offset {offset} exceed the buffer")
    if isinstance(data, bytes):
        return _bytes_address(data) + offset, data
    try:
        window = (ctypes.c_char * nbytes).from_buffer(data, offset)
    except TypeError:
        # A read-only view (e.g. of bytes) cannot be exported writable: one copy, at memcpy speed.
        copy = bytes(memoryview(data).cast("B")[offset : offset + nbytes])
        return _bytes_address(copy), copy
    return ctypes.addressof(window), window


class NativeKeccak:
    """keccak256 of a message, of many fixed-size nodes, or of whole subtrees: one call each."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._keccak = lib.zg_keccak256
        self._keccak.argtypes = [_ptr, _size_t, ctypes.c_char_p]
        self._keccak.restype = None
        self._nodes = lib.zg_hash_nodes
        self._nodes.argtypes = [_ptr, _size_t, _size_t, ctypes.c_char_p]
        self._nodes.restype = None
        self._subtrees = lib.zg_subtree_roots
        self._subtrees.argtypes = [_ptr, _size_t, ctypes.c_uint, _size_t, ctypes.c_char_p]
        self._subtrees.restype = ctypes.c_int

    def keccak256(self, data: Buffer) -> bytes:
        """Ethereum keccak256 of `data`."""
        size = memoryview(data).nbytes
        addr, _keep = _address(data, 0, size)
        out = ctypes.create_string_buffer(DIGEST_SIZE)
        self._keccak(addr, size, out)
        return out.raw

    def hash_nodes(self, data: Buffer, node_size: int, count: int, offset: int = 0) -> bytes:
        """Concatenated hashes of `count` consecutive `node_size`-byte nodes from `offset`."""
        if count <= 0:
            return b""
        addr, _keep = _address(data, offset, node_size * count)
        out = ctypes.create_string_buffer(DIGEST_SIZE * count)
        self._nodes(addr, node_size, count, out)
        return out.raw

    def subtree_roots(
        self, data: Buffer, leaf_size: int, height: int, count: int, offset: int = 0
    ) -> bytes:
        """Concatenated roots of `count` consecutive full subtrees of 2**height leaves each."""
        if count <= 0:
            return b""
        addr, _keep = _address(data, offset, (leaf_size << height) * count)
        out = ctypes.create_string_buffer(DIGEST_SIZE * count)
        if self._subtrees(addr, leaf_size, height, count, out) != 0:
            raise MemoryError(f"no memory for a level of 2**{height} hashes")
        return out.raw


def load(path: Path = LIBRARY) -> NativeKeccak | None:
    """The library at `path`, or None (logged at debug) when it is missing, stale or foreign."""
    why = ""
    try:
        lib = ctypes.CDLL(str(path))
        version = lib.zg_abi_version()
        if version == ABI_VERSION:
            return NativeKeccak(lib)
        why = f"ABI version {version}, expected {ABI_VERSION}: rebuild it"
    except (OSError, AttributeError) as e:  # not built, another platform's, or not ours
        why = str(e)
    _log.debug(
        "%s unusable (%s); merkle trees use safe-pysha3, one hash object per node: "
        "build it with `make install` or `python -m zerog_storage.native_build`",
        path,
        why,
    )
    return None
