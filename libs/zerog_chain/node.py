"""What the chain node answers about one transaction or wallet, with its failures as our errors:
unreachable (ChainUnavailable), refused (TransactionRejected), reverted (ContractReverted)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from web3 import AsyncWeb3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from zerog_chain.abis import decode_revert
from zerog_chain.errors import ChainUnavailable, ContractReverted, TransactionRejected

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError)
try:  # aiohttp is web3's async transport; its errors mean "could not reach the RPC".
    import aiohttp

    TRANSPORT_ERRORS = (*TRANSPORT_ERRORS, aiohttp.ClientError)
except ImportError:  # pragma: no cover
    pass


@contextmanager
def reaching_the_node() -> Iterator[None]:
    """Turns a failure to reach the RPC into ChainUnavailable."""
    try:
        yield
    except TRANSPORT_ERRORS as error:
        raise ChainUnavailable(f"chain RPC failed: {type(error).__name__}") from None


@contextmanager
def contract_call() -> Iterator[None]:
    """As reaching_the_node, and a revert raises ContractReverted, decoded by name."""
    with reaching_the_node():
        try:
            yield
        except ContractLogicError as error:
            raise _decoded(error) from None


def reverted(error: BaseException) -> ContractReverted | None:
    """The decoded revert carried by a web3 error, if it is one."""
    return _decoded(error) if isinstance(error, ContractLogicError) else None


def _decoded(error: ContractLogicError) -> ContractReverted:
    data = error.data if isinstance(error.data, str) else ""
    if data and data != "0x":
        name, args = decode_revert(data)
        return ContractReverted(name, args, data)
    return ContractReverted("Reverted", (str(error.message or ""),))


def rejection(error: Web3RPCError) -> TransactionRejected:
    """The node's refusal, in its own words."""
    return TransactionRejected(_message(error) or "refused by the node")


def already_known(error: Web3RPCError) -> bool:
    """geth's and anvil's answers for a transaction already in their pool."""
    message = _message(error).lower()
    return "already known" in message or "known transaction" in message


def _message(error: Web3RPCError) -> str:
    message = error.rpc_response.get("error", {}).get("message", "") if error.rpc_response else ""
    return str(message or error.message or "")


async def transaction_count(
    w3: AsyncWeb3[Any], address: str, block: Literal["pending", "latest"]
) -> int:
    """Transactions of `address` mined ("latest") or mined and pooled ("pending")."""
    with reaching_the_node():
        return int(await w3.eth.get_transaction_count(address, block))  # type: ignore[arg-type]


async def node_knows(w3: AsyncWeb3[Any], tx_hash: str) -> bool:
    """Whether the node holds the transaction, pooled or mined."""
    with reaching_the_node():
        try:
            await w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        except TransactionNotFound:
            return False
    return True


async def find_receipt(w3: AsyncWeb3[Any], tx_hash: str) -> object | None:
    """The transaction's receipt, or None while it is not mined."""
    with reaching_the_node():
        try:
            return await w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]  # hex str is accepted
        except TransactionNotFound:
            return None
