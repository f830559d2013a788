"""The broker's own field rules on top of the kernel's Problems: addresses, neuron amounts,
page tokens and sizes."""

from __future__ import annotations

import re
from typing import Protocol

from eth_utils.address import to_checksum_address

from services.broker.amounts import parse_neuron
from zerog_grpc import validation

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
MAX_PAGE = 200


class Problems(validation.Problems):
    """Every bad field of a request, reported at once."""

    @classmethod
    def of_mutation(cls, request_id: str) -> Problems:
        """Problems of a request that changes something: its request_id first."""
        problems = cls()
        problems.request_id("request_id", request_id)
        return problems

    def check(self, request: object) -> None:
        """Refuse `request` (INVALID_ARGUMENT with one BadRequest) if any field is bad."""
        self.raise_if_any(f"invalid {type(request).__name__}")

    def address(self, field: str, value: str) -> str:
        """The address checksummed (web3 and our tables' keys want it so); any spelling in."""
        if not _ADDRESS.fullmatch(value):
            self.add(field, "must be a 0x-prefixed 40-hex-digit address")
            return value
        return str(to_checksum_address(value))

    def tx_hash(self, field: str, value: str) -> str:
        """A transaction hash, lower-cased (one spelling per transaction in our tables)."""
        if not _TX_HASH.fullmatch(value):
            self.add(field, "must be 0x and 64 hex digits")
        return value.lower()

    def neuron(self, field: str, value: str, *, minimum: int = 0, optional: bool = False) -> int:
        """The amount a canonical decimal string holds; -1 for an optional one left empty."""
        if optional and value == "":
            return -1
        amount = parse_neuron(value)
        if amount is None:
            self.add(field, "must be a canonical decimal integer of neuron")
            return 0
        if amount < minimum:
            self.add(field, f"must be at least {minimum}")
        return amount

    def page_size(self, size: int) -> int:
        """A page_size: 0 means 50."""
        size = size or 50
        self.within("page_size", size, 1, MAX_PAGE)
        return size

    def offset(self, token: str) -> int:
        """The offset a page_token of ours encodes (ASCII digits within PostgreSQL's int4)."""
        if not token:
            return 0
        if not (token.isascii() and token.isdigit()) or int(token) > 2**31 - 1:
            self.add("page_token", "not a token this service issued")
            return 0
        return int(token)


class _OfProvider(Protocol):
    @property
    def provider(self) -> str: ...


def provider_of(request: _OfProvider, problems: Problems | None = None) -> str:
    """The checksummed provider of a request whose rules are a valid provider address and
    those `problems` already checks (a mutation's request_id)."""
    problems = Problems() if problems is None else problems
    provider = problems.address("provider", request.provider)
    problems.check(request)
    return provider
