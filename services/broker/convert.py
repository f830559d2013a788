"""Domain values to proto messages, and request validation helpers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from eth_utils.address import to_checksum_address
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import StatusCode

from services.broker.amounts import a0gi, parse_neuron
from services.broker.errors import Context
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import AccountInfo, LedgerInfo, Receipt, ServiceInfo
from zerog_grpc import abort, bad_request, request_ids

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class Problems(dict[str, str]):
    """Every bad field of a request, reported at once."""

    def request_id(self, value: str, field: str = "request_id") -> None:
        """The rule every service shares (zerog_grpc.request_ids)."""
        problem = request_ids.check(value)
        if problem is not None:
            self[field] = problem

    def address(self, value: str, field: str) -> str:
        if not _ADDRESS.fullmatch(value):
            self[field] = "must be a 0x-prefixed 40-hex-digit address"
            return value
        # Any spelling is accepted; web3 wants the checksummed one, and so do our tables' keys.
        return str(to_checksum_address(value))

    def offset(self, token: str, field: str = "page_token") -> int:
        """The offset a page token of ours encodes (ASCII digits, within PostgreSQL's int4)."""
        if not token:
            return 0
        if not (token.isascii() and token.isdigit()) or int(token) > 2**31 - 1:
            self[field] = "not a token this service issued"
            return 0
        return int(token)

    def neuron(self, value: str, field: str, *, minimum: int = 0, optional: bool = False) -> int:
        if optional and value == "":
            return -1
        amount = parse_neuron(value)
        if amount is None:
            self[field] = "must be a canonical decimal integer of neuron"
            return 0
        if amount < minimum:
            self[field] = f"must be at least {minimum}"
        return amount

    async def check(self, context: Context, what: str) -> None:
        if self:
            await abort(context, StatusCode.INVALID_ARGUMENT, f"invalid {what}", bad_request(self))


def fingerprint(request: Message) -> str:
    """What identifies a request's content, for request_id reuse detection."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def receipt(r: Receipt) -> pb.Receipt:
    return pb.Receipt(
        tx_hash=r.tx_hash,
        block_number=r.block_number,
        gas_used=r.gas_used,
        effective_gas_price_neuron=str(r.effective_gas_price),
        purpose=r.record.purpose if r.record else "",
        status=pb.TRANSACTION_STATUS_SUCCEEDED,
    )


def sub_account(a: AccountInfo) -> pb.SubAccount:
    return pb.SubAccount(
        provider=a.provider,
        balance_neuron=str(a.balance),
        pending_refund_neuron=str(a.pending_refund),
        locked_neuron=str(a.locked),
        acknowledged=a.acknowledged,
        generation=a.generation,
        nonce=str(a.nonce),
    )


def ledger(info: LedgerInfo, accounts: list[AccountInfo]) -> pb.Ledger:
    return pb.Ledger(
        owner=info.user,
        total_neuron=str(info.total),
        available_neuron=str(info.available),
        locked_neuron=str(info.total - info.available),
        total_a0gi=a0gi(info.total),
        available_a0gi=a0gi(info.available),
        sub_accounts=[sub_account(a) for a in accounts],
    )


def timestamp_s(seconds: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromSeconds(seconds)
    return stamp


def timestamp_ms(ms: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMilliseconds(ms)
    return stamp


def provider(s: ServiceInfo, official: frozenset[str]) -> pb.Provider:
    return pb.Provider(
        address=s.provider,
        service_type=s.service_type,
        url=s.url,
        endpoint=s.url.rstrip("/") + "/v1/proxy",
        model=s.model,
        verifiability=s.verifiability,
        verifiable=s.verifiability == "TeeML",
        input_price_neuron=str(s.input_price),
        output_price_neuron=str(s.output_price),
        tee_signer_address=s.tee_signer,
        tee_signer_acknowledged=s.tee_signer_acknowledged,
        additional_info=s.additional_info,
        official=s.provider.lower() in official,
        updated_at=timestamp_s(s.updated_at),
    )


def tee_signer(s: ServiceInfo) -> str:
    """The address a TeeML response must recover to (the SDK's TargetSeparated rule)."""
    import json

    try:
        info: Mapping[str, Any] = json.loads(s.additional_info or "{}")
    except ValueError:
        info = {}
    if (
        isinstance(info, dict)
        and info.get("TargetSeparated") is True
        and info.get("ProviderType") != "centralized"
        and isinstance(info.get("TargetTeeAddress"), str)
    ):
        return str(info["TargetTeeAddress"])
    return s.tee_signer
