"""Merkle root MB/s (MB = 2**20 bytes) of a file on disk: zerog_storage vs the official SDKs.

Peers: the TS SDK (ZgFile.merkleTree in Node) and the Python SDK (0g-storage-sdk in a
throwaway venv). Each side reads the same temporary file of random bytes and the roots are
compared, so every side is known to do the whole job. The peers take about 15-35 s per
64 MiB here, so at 512 MiB their 64 MiB rate stands in (the rate does not depend on size).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.context import Context
from bench.model import Measurement, Row
from bench.node import PeerUnavailable, run_node
from bench.peers import peer_python, run_python
from bench.profile import profile_snippet
from bench.report import Section
from bench.timing import best_seconds
from zerog_storage import FileMerkleTree
from zerog_storage.hashing import native_in_use

PYSDK = ["0g-storage-sdk==0.4.0"]
PEER_MAX_MIB = 64
# zerog_storage splits work over processes from 32 segments (8 MiB) up.
TWO_PROCESS_MIN_MIB = 8
BAR = 30.0
PYSDK_SCRIPT = Path(__file__).resolve().parent / "peers" / "merkle_pysdk.py"


def _write_random(path: Path, mib: int) -> None:
    with path.open("wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
        # On disk before any timing: the kernel's writeback of up to 512 MiB would otherwise
        # overlap whichever side is timed first (ours).
        f.flush()
        os.fsync(f.fileno())


def _rates(mib: float, seconds: list[float]) -> list[float]:
    return [mib / s for s in seconds]


def _ts_peer(ctx: Context, path: Path, repeat: int) -> tuple[list[float], str]:
    out = run_node(ctx, "merkle.mjs", {"path": str(path), "repeat": repeat}, timeout=1800)
    return out["seconds"], out["root"]


def _py_peer(ctx: Context, path: Path, repeat: int) -> tuple[list[float], str]:
    if ctx.tiny:
        raise PeerUnavailable("not run at smoke-test size (its venv imports web3: seconds)")
    python = peer_python("storage-sdk", PYSDK)
    out = run_python(python, PYSDK_SCRIPT, [str(path), str(repeat)], timeout=3600)
    return out["seconds"], out["root"]


PEERS = (
    ("TS SDK 1.2.8 (node)", _ts_peer),
    ("0g-storage-sdk 0.4.0 (python)", _py_peer),
)


def _ours(
    ctx: Context, path: Path, mib: int, pool: ProcessPoolExecutor
) -> tuple[Measurement, Measurement | None]:
    repeat = ctx.pick(20 if mib == 1 else 5 if mib == 64 else 3, 5, 1)
    one = best_seconds(repeat, lambda: FileMerkleTree.from_path(path))
    ours = Measurement.of_rates("zerog_storage, 1 core", _rates(mib, one))
    if mib < TWO_PROCESS_MIN_MIB:
        return ours, None  # from_path would hash in this process anyway: the same row twice
    two = best_seconds(repeat, lambda: FileMerkleTree.from_path(path, executor=pool, workers=2))
    return ours, Measurement.of_rates("zerog_storage, 2 processes", _rates(mib, two))


def _size_rows(
    ctx: Context, path: Path, mib: int, pool: ProcessPoolExecutor, at_max: dict[str, Measurement]
) -> list[Row | Section]:
    one, two = _ours(ctx, path, mib, pool)
    root = "0x" + FileMerkleTree.from_path(path).root.hex()
    hasher = "C keccak" if native_in_use() else "C keccak NOT BUILT: safe-pysha3 per node"
    rows: list[Row | Section] = []
    for label, peer_fn in PEERS:
        notes: list[str] = [hasher]
        peer: Measurement | None = None
        if mib <= PEER_MAX_MIB:
            try:
                repeat = ctx.pick(5 if mib == 1 else 2, 2 if mib == 1 else 1, 1)
                seconds, peer_root = peer_fn(ctx, path, repeat)
                peer = at_max[label] = Measurement.of_rates(label, _rates(mib, seconds))
                same = peer_root == root
                notes.append("roots identical" if same else f"ROOTS DIFFER: {peer_root} vs {root}")
            except PeerUnavailable as e:
                notes.append(f"peer not run: {e}")
        else:
            peer = at_max.get(label)
            notes.append(
                f"peer rate measured at {PEER_MAX_MIB} MiB (too slow to wait for {mib} MiB)"
            )
        name = f"merkle root, {mib} MiB file"
        rows.append(Row(name, "MB/s", one, peer, bar=BAR, notes=notes))
        if two is not None and label == PEERS[0][0]:
            rows.append(
                Row(name, "MB/s", two, peer, bar=BAR, notes=[hasher, "ours in 2 worker processes"])
            )
    return rows


def run(ctx: Context) -> list[Row | Section]:
    """Per size: ours (1 core) vs each SDK, and ours in 2 processes vs the TS SDK."""
    sizes = [1] if ctx.tiny else [1, 64] if ctx.quick else [1, 64, 512]
    rows: list[Row | Section] = []
    at_max: dict[str, Measurement] = {}
    with ProcessPoolExecutor(max_workers=2) as pool:
        pool.submit(int).result()  # workers started before any timing
        for mib in sizes:
            path = ctx.scratch / f"merkle-{mib}.bin"
            _write_random(path, mib)
            try:
                rows += _size_rows(ctx, path, mib, pool, at_max)
            finally:
                path.unlink(missing_ok=True)
    missed = [r for r in rows if isinstance(r, Row) and r.verdict.startswith("missed")]
    if missed and not ctx.tiny:
        rows.append(_profile(ctx))
    return rows


WHERE = """A 64 MiB file is 262,144 chunks of 256 bytes: the tree hashes each chunk (a leaf, two
Keccak-f permutations at keccak's 136-byte rate) and every pair of nodes (64 bytes, one
permutation), about 786,000 permutations, where streaming keccak over the same bytes would run
about 490,000. zerog_storage hashes a whole segment (its 1,024 leaves and the 10 levels of
pairs above them) in one ctypes call to its C level hasher (`libs/zerog_storage/native`, built
by `make install`), which runs four equal-length messages through one four-way Keccak-f when
the CPU has AVX2: no Python object per node, and Python sees one 32-byte root per 256 KiB
segment. The floor is therefore the permutation itself (`NativeKeccak.subtree_roots` below;
py-spy does not name the C frames inside the library) plus reading the file in 4 MiB blocks
(`from_stream`). Further gains would need more lanes per permutation (AVX-512, which this
CPU lacks) or a second free core (the 2-process row). Without the library (not built), the
same code falls back to one safe-pysha3 object per node, several times slower; the rows'
notes say which hasher ran.
Below: py-spy (with native frames) over `FileMerkleTree.from_path`, one process.

"""


def _profile(ctx: Context) -> Section:
    mib = ctx.pick(64, 16, 1)
    path = ctx.scratch / "merkle-profile.bin"
    _write_random(path, mib)
    try:
        code = (
            "from zerog_storage import FileMerkleTree\n"
            f"for _ in range(3): FileMerkleTree.from_path({str(path)!r})"
        )
        summary = profile_snippet(code, ctx.scratch, "merkle", under="FileMerkleTree.from_path")
    finally:
        path.unlink(missing_ok=True)
    return Section(f"Profile: merkle root of a {mib} MiB file (ours, 1 core)", WHERE + summary)
