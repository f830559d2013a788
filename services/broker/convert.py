"""Domain values to proto messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.broker.amounts import a0gi
from zerog.broker.v1 import broker_service_pb2 as pb
from zerog_chain import AccountInfo, LedgerInfo, Receipt, ServiceInfo
from zerog_grpc.convert import timestamp_ms


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
        updated_at=timestamp_ms(s.updated_at * 1000),
    )


def tee_signer(s: ServiceInfo) -> str:
    """The address a TeeML response must recover to (the SDK's TargetSeparated rule)."""
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
