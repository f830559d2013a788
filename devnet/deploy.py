"""Deploys the devnet contracts: the real 0G compute contracts behind proxies, Flow and market."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import Nonce, TxParams, TxReceipt, Wei

from devnet.contracts import ArtifactName, contract, load_artifact

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
# Estimates run against the latest block, but the transaction lands in the next one, where a
# Flow epoch may close (about 200k gas of extra storage writes): leave room for that.
GAS_MARGIN = 300_000
SERVICE_TYPE = "inference"
SERVICE_VERSION = "v1.0"
SERVICE_DESCRIPTION = "0G inference serving (zerog devnet)"


class TransactionFailed(RuntimeError):
    """A devnet transaction was mined but reverted."""


class Transactor:
    """Signs and sends transactions from one local key, keeping its nonce locally."""

    def __init__(self, w3: Web3, account: LocalAccount) -> None:
        self.w3 = w3
        self.account = account
        self._nonce: int = w3.eth.get_transaction_count(account.address, "pending")
        self._chain_id = w3.eth.chain_id

    def send(self, tx: TxParams) -> TxReceipt:
        """Fills nonce, gas and fees, signs, sends and waits for a successful receipt."""
        tx = {**tx, "from": self.account.address, "nonce": Nonce(self._nonce)}
        tx["chainId"] = self._chain_id
        if "gas" not in tx:
            tx["gas"] = self.w3.eth.estimate_gas(tx) + GAS_MARGIN
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            tx["gasPrice"] = self.w3.eth.gas_price
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]  # TxParams is a superset
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self._nonce += 1
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.01)
        if receipt["status"] != 1:
            raise TransactionFailed(f"transaction {tx_hash.to_0x_hex()} reverted")
        return receipt

    def transact(self, function: ContractFunction, value: int = 0) -> TxReceipt:
        """Calls a contract function in a transaction (gas estimation surfaces reverts early)."""
        params: TxParams = {
            "from": self.account.address,
            "nonce": Nonce(self._nonce),
            "value": Wei(value),
        }
        tx = function.build_transaction(params)
        tx["gas"] = tx["gas"] + GAS_MARGIN
        return self.send(tx)

    def deploy(self, name: ArtifactName, *args: object) -> ChecksumAddress:
        """Deploys a built artifact with constructor `args`; returns its address."""
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        params: TxParams = {"from": self.account.address, "nonce": Nonce(self._nonce)}
        tx = factory.constructor(*args).build_transaction(params)
        tx["gas"] = tx["gas"] + GAS_MARGIN
        address = self.send(tx)["contractAddress"]
        if address is None:
            raise TransactionFailed(f"deploying {name} created no contract")
        return address


@dataclass(frozen=True)
class ComputeDeployment:
    """The 0G compute contracts: proxies (what clients use) and their implementations."""

    ledger: ChecksumAddress
    ledger_implementation: ChecksumAddress
    inference: ChecksumAddress
    inference_implementation: ChecksumAddress
    inference_service_name: str


@dataclass(frozen=True)
class StorageDeployment:
    """Our Flow and its FixedPriceMarket."""

    flow: ChecksumAddress
    market: ChecksumAddress


def deploy_compute(sender: Transactor, lock_time: int) -> ComputeDeployment:
    """The real LedgerManager and InferenceServing, each behind an ERC1967 proxy whose
    constructor calls initialize (their constructors lock the implementations), with
    InferenceServing registered in the ledger as `inference` `v1.0`."""
    owner = sender.account.address
    w3 = sender.w3
    ledger_impl = sender.deploy("LedgerManager")
    ledger_init = contract(w3, "LedgerManager", ledger_impl).encode_abi("initialize", [owner])
    ledger = sender.deploy("ERC1967Proxy", ledger_impl, ledger_init)

    inference_impl = sender.deploy("InferenceServing")
    inference_init = contract(w3, "InferenceServing", inference_impl).encode_abi(
        "initialize", [lock_time, ledger, owner]
    )
    inference = sender.deploy("ERC1967Proxy", inference_impl, inference_init)

    ledger_contract = contract(w3, "LedgerManager", ledger)
    sender.transact(
        ledger_contract.functions.registerService(
            SERVICE_TYPE, SERVICE_VERSION, inference, SERVICE_DESCRIPTION
        )
    )
    # The registry decides the full name (inference-v1.0 today); clients must read it back.
    info = ledger_contract.functions.getServiceInfo(inference).call()
    return ComputeDeployment(
        ledger=ledger,
        ledger_implementation=ledger_impl,
        inference=inference,
        inference_implementation=inference_impl,
        inference_service_name=info[4],
    )


def deploy_storage(
    sender: Transactor, price_per_sector: int, blocks_per_epoch: int, deploy_delay: int = 0
) -> StorageDeployment:
    """A fresh FixedPriceMarket and Flow wired to each other, with no reward pool."""
    market = sender.deploy("FixedPriceMarket")
    flow = sender.deploy("Flow", deploy_delay)
    w3 = sender.w3
    sender.transact(contract(w3, "Flow", flow).functions.initialize(market, blocks_per_epoch))
    sender.transact(
        contract(w3, "FixedPriceMarket", market).functions.initialize(
            price_per_sector, flow, ZERO_ADDRESS
        )
    )
    return StorageDeployment(flow=flow, market=market)
