"""Compile the C keccak level hasher beside the package: `python -m zerog_storage.native_build`."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from zerog_storage.keccak_native import LIBRARY, SOURCE, load

__all__ = ["build"]

# Portable code only (no -march): the same library runs on any x86-64 / arm64 host and image.
FLAGS = ["-O3", "-fPIC", "-shared", "-std=c11", "-Wall", "-Wextra"]


def build(out: Path = LIBRARY, cc: str | None = None) -> Path:
    """Compile SOURCE into `out` (replaced atomically, so running processes keep their copy)."""
    compiler = shlex.split(cc or os.environ.get("CC") or "cc")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        subprocess.run([*compiler, *FLAGS, "-o", str(tmp), str(SOURCE)], check=True)
        if load(tmp) is None:
            raise RuntimeError(f"{tmp} was built but cannot be loaded")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def main() -> None:
    """Build the library and say where it is."""
    try:
        path = build()
    except (OSError, subprocess.CalledProcessError, RuntimeError) as e:
        sys.exit(f"native_build: {e}")
    print(f"built {path}")


if __name__ == "__main__":
    main()
