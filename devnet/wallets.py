"""Deterministic devnet keys: BIP-44 accounts of the devnet mnemonic, as anvil derives them."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount

A0GI = 10**18
"""One A0GI in neuron."""


@dataclass(frozen=True)
class Wallet:
    """A funded devnet test wallet. The key is public knowledge (well-known mnemonic)."""

    address: str
    private_key: str = field(repr=False)

    def account(self) -> LocalAccount:
        """An eth-account signer for this wallet."""
        signer: LocalAccount = Account.from_key(self.private_key)
        return signer


def derive_wallets(mnemonic: str, count: int) -> list[Wallet]:
    """Accounts m/44'/60'/0'/0/0..count-1 of `mnemonic` (index 0 is the devnet deployer)."""
    # The "unaudited" flag only gates mnemonic support in eth-account; derivation is BIP-32.
    Account.enable_unaudited_hdwallet_features()
    wallets = []
    for index in range(count):
        signer = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
        wallets.append(Wallet(address=signer.address, private_key="0x" + signer.key.hex()))
    return wallets
