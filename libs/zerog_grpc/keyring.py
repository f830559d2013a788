"""Keys for throwaway stacks (tests, benchmarks): one per caller name, derived from the name,
and the JWKS publishing them, in a temporary file their servers read. Never for deployments:
anyone who knows a name can derive its key.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Collection
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from zerog_grpc.tokens import SigningKey, TokenMinter

# P-256's group order: a scalar below it is a valid private key.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Keyring:
    """One signing key per caller name, derived from `seed` and the name (the same in every
    process), and the JWKS publishing them, a file this process's servers read.

    A name gets its key and its JWKS entry the first time it is asked for; servers started with
    `env()` re-read the file for any kid they do not know (AUTH_JWKS_UNKNOWN_KID_SECONDS=0)."""

    def __init__(self, seed: str, names: Collection[str]) -> None:
        self._seed = seed
        folder = tempfile.mkdtemp(prefix=f"{seed}-jwks-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        self.path = Path(folder) / "jwks.json"
        self._keys: dict[str, SigningKey] = {}
        self._minters: dict[str, TokenMinter] = {}
        self._lock = threading.Lock()
        for name in names:
            self.key(name)

    def key(self, name: str) -> SigningKey:
        with self._lock:
            if name not in self._keys:
                digest = hashlib.sha256(f"{self._seed}:{name}".encode()).digest()
                scalar = int.from_bytes(digest) % (_P256_ORDER - 1) + 1
                self._keys[name] = SigningKey(ec.derive_private_key(scalar, ec.SECP256R1()))
                self._publish()
            return self._keys[name]

    def _publish(self) -> None:
        jwks = {"keys": [key.public_jwk(name) for name, key in sorted(self._keys.items())]}
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(jwks))
        os.replace(partial, self.path)  # readers see the old or the new file, never half

    def env(self, service: str) -> dict[str, str]:
        """The auth settings of a server of `service`, as its environment."""
        return {
            "AUTH_JWKS_FILE": str(self.path),
            "AUTH_JWKS_UNKNOWN_KID_SECONDS": "0",
            "AUTH_SIGNING_KEY": self.key(service).pem().decode(),
        }

    def minter(self, name: str) -> TokenMinter:
        """Tokens of caller `name`, one minter per name: its tokens are reused, as a service's
        are, so servers verify each once rather than on every call."""
        with self._lock:
            minter = self._minters.get(name)
        if minter is None:
            minter = self._minters.setdefault(name, TokenMinter(self.key(name), name))
        return minter
