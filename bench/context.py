"""What every benchmark gets: the size switch, the repository root and a scratch directory."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"


@dataclass(frozen=True)
class Context:
    """`quick` shrinks sizes and repeats (iteration, smoke tests); `tiny` shrinks them further."""

    quick: bool
    scratch: Path
    tiny: bool = False
    postgres: str | None = None  # a superuser DSN to create databases in; else a TempCluster

    @property
    def python(self) -> str:
        return sys.executable

    @property
    def node(self) -> str | None:
        return shutil.which("node")

    def pick(self, full: int, quick: int, tiny: int) -> int:
        """One of three sizes, by mode."""
        return tiny if self.tiny else quick if self.quick else full
