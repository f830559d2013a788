"""Where the devnet finds its inputs (node_modules, Solidity, ABIs) and puts its outputs."""

from __future__ import annotations

import platform
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
NODE_MODULES = REPO_ROOT / "node_modules"
CONTRACTS_DIR = PACKAGE_DIR / "contracts"
ABI_DIR = PACKAGE_DIR / "abi"
BUILD_DIR = PACKAGE_DIR / "build"
COMPILE_SCRIPT = PACKAGE_DIR / "compile.mjs"
DEFAULT_STATE_PATH = PACKAGE_DIR / "state" / "devnet.json"

# npm's @foundry-rs/anvil installs the real binary in a per-platform package; its bin.mjs is a
# node wrapper, which would put an extra process between us and anvil.
_ANVIL_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
    ("Darwin", "arm64"): "darwin-arm64",
}


def anvil_binary() -> Path:
    """The anvil executable from node_modules: the platform binary if installed."""
    suffix = _ANVIL_PLATFORMS.get((platform.system(), platform.machine()))
    if suffix is not None:
        binary = NODE_MODULES / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
        if binary.exists():
            return binary
    # Last resort: the npm wrapper, which still works but runs anvil as a grandchild.
    return NODE_MODULES / ".bin" / "anvil"
