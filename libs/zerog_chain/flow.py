"""Paying Flow submissions: price per sector from the market, submit or batchSubmit, tx seqs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils.address import to_checksum_address
from web3 import AsyncWeb3

from zerog_chain.abis import load_abi
from zerog_chain.compute import read
from zerog_chain.records import Receipt
from zerog_chain.sender import TxSender
from zerog_storage import (
    SUBMIT_EVENT_TOPIC,
    Submission,
    SubmissionData,
    decode_submit_event,
    encode_batch_submit,
    encode_submit,
)


class FlowContracts:
    """The Flow contract and its market, paid from the sender's wallet."""

    def __init__(self, w3: AsyncWeb3[Any], flow_address: str, sender: TxSender) -> None:
        self.sender = sender
        self.flow = w3.eth.contract(address=to_checksum_address(flow_address), abi=load_abi("Flow"))
        self._w3 = w3

    async def price_per_sector(self) -> int:
        """market.pricePerSector(), read at every call (the market may change it)."""
        market = await read(self.flow.functions.market().call())
        contract = self._w3.eth.contract(address=market, abi=load_abi("FixedPriceMarket"))
        return int(await read(contract.functions.pricePerSector().call()))

    def fee(self, submissions: Sequence[SubmissionData], price: int) -> int:
        """Sectors x price over all submissions."""
        return sum(s.fee(price) for s in submissions)

    async def submit(
        self, submissions: Sequence[SubmissionData], fee: int, *, request_id: str
    ) -> Receipt:
        """submit (one) or batchSubmit (several), paying exactly `fee`."""
        submitter = self.sender.wallet.address
        wrapped = [Submission(s, submitter) for s in submissions]
        data = encode_submit(wrapped[0]) if len(wrapped) == 1 else encode_batch_submit(wrapped)
        return await self.sender.send(
            self.flow.address, data, value=fee, purpose="STORAGE_SUBMIT", request_id=request_id
        )

    def tx_seqs(self, receipt: Receipt) -> list[int]:
        """The submissionIndex of each Submit event the receipt holds, in log order."""
        seqs = []
        for entry in receipt.logs:
            topics = [bytes(t) for t in entry["topics"]]
            if (
                topics
                and topics[0] == SUBMIT_EVENT_TOPIC
                and to_checksum_address(entry["address"]) == self.flow.address
            ):
                seqs.append(decode_submit_event(topics, bytes(entry["data"])).submission_index)
        return seqs
