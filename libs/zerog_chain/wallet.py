"""The platform wallet: a local key that signs transactions and never shows itself."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from zerog_chain.errors import ChainError
from zerog_signing import LocalSigner


class Wallet:
    """Signs transactions (eth-account) and digests (zerog_signing) with one private key.

    repr/str show only the address, and a bad key fails without echoing it.
    """

    __slots__ = ("_account", "address", "signer")

    def __init__(self, private_key: str) -> None:
        try:
            self._account: LocalAccount = Account.from_key(private_key)
            self.signer = LocalSigner(bytes(self._account.key))
        except Exception:
            raise ChainError("the wallet private key is malformed") from None
        self.address: str = self._account.address

    def sign_transaction(self, tx: dict[str, Any]) -> bytes:
        """Raw signed transaction bytes."""
        signed = self._account.sign_transaction(tx)
        return bytes(signed.raw_transaction)

    def __repr__(self) -> str:
        return f"Wallet({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Wallet cannot be pickled")
