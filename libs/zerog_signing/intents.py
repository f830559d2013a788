"""Wallet intents of the dream-app flow: canonical EIP-191 messages and an EIP-712 form.
(IntentVerifier, in intent_verifier, checks them and returns the signer or a reason.)

EIP-191 messages (what a browser wallet shows and signs with personal_sign):

    Initialize 0G Broker for {address} at {timestamp}
    Fund {amount} OG for {address} at {timestamp}
    Analyze dream for {address} at {timestamp}
    Check balance for {address} at {timestamp}

each optionally followed by ` nonce {nonce}` (1-78 of A-Z a-z 0-9 _ -: room for a uint256
in decimal). `timestamp` is Unix milliseconds (JavaScript's Date.now()). `amount` is 0G in
canonical decimal: no exponent, no leading zeros, no trailing fractional zeros, at most 18
decimals ("1", "0.5", never "1.0" or ".5"), so that one intent has exactly one text.

Replay: with a ` nonce` suffix that nonce is used once per address. Without one, the
message itself is the nonce (`m:<keccak256 of the text>`): the same signed text is accepted
once, and its timestamp bounds how long it needs remembering. Nonces from both forms share
one namespace per address.

EIP-712: domain {name "zerog", version "1", chainId}, no verifyingContract (nothing on chain
checks it), primary type
    WalletIntent(string action,address address,uint256 amount,uint256 nonce,uint256 timestamp)
`amount` is neuron (1 0G = 10^18) as uint256: exact, the unit contracts and our services
use, and free of decimal-format ambiguity; 0 for actions that move no money. `nonce` is
required in this form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from zerog_signing.errors import InvalidAddress, MalformedMessage
from zerog_signing.hashing import personal_message_hash, to_checksum_address
from zerog_signing.keys import Signer
from zerog_signing.typed_data import Eip712Domain, Eip712Types, typed_data_digest

__all__ = [
    "INTENT_PRIMARY_TYPE",
    "INTENT_TYPES",
    "NEURON_PER_OG",
    "IntentAction",
    "WalletIntent",
    "format_og",
    "intent_domain",
    "intent_message",
    "intent_typed_message",
    "parse_intent_message",
    "parse_og",
    "sign_intent_message",
    "sign_intent_typed",
]

NEURON_PER_OG = 10**18
INTENT_PRIMARY_TYPE = "WalletIntent"
INTENT_TYPES = Eip712Types(
    {
        INTENT_PRIMARY_TYPE: [
            ("action", "string"),
            ("address", "address"),
            ("amount", "uint256"),
            ("nonce", "uint256"),
            ("timestamp", "uint256"),
        ]
    }
)

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{0,17}[1-9]))?")
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,78}")
_DECIMAL_NONCE = re.compile(r"0|[1-9][0-9]{0,77}")
_TAIL = r" for (0[xX][0-9a-fA-F]{40}) at ([1-9][0-9]{0,15})(?: nonce ([A-Za-z0-9_-]{1,78}))?"
_MAX_UINT256 = (1 << 256) - 1


class IntentAction(StrEnum):
    """What the wallet owner asks for."""

    INITIALIZE = "initialize"
    FUND = "fund"
    ANALYZE = "analyze"
    BALANCE = "balance"


_MESSAGES = {
    IntentAction.INITIALIZE: re.compile("Initialize 0G Broker" + _TAIL),
    IntentAction.FUND: re.compile(r"Fund ([0-9.]+) OG" + _TAIL),
    IntentAction.ANALYZE: re.compile("Analyze dream" + _TAIL),
    IntentAction.BALANCE: re.compile("Check balance" + _TAIL),
}
_BY_FIRST_WORD = {
    "Initialize": IntentAction.INITIALIZE,
    "Fund": IntentAction.FUND,
    "Analyze": IntentAction.ANALYZE,
    "Check": IntentAction.BALANCE,
}


def format_og(neuron: int) -> str:
    """Canonical decimal 0G for an amount in neuron: 1500000000000000000 -> "1.5"."""
    whole, fraction = divmod(neuron, NEURON_PER_OG)
    return f"{whole}.{fraction:018d}".rstrip("0").rstrip(".") if fraction else str(whole)


def parse_og(text: str) -> int:
    """Neuron for a canonical decimal 0G amount; MalformedMessage otherwise."""
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise MalformedMessage(f"amount {text!r} is not a canonical decimal 0G amount")
    return int(match[1]) * NEURON_PER_OG + int((match[2] or "").ljust(18, "0"))


@dataclass(frozen=True, slots=True)
class WalletIntent:
    """One intent. `address` may be given in any valid case and is kept in EIP-55 form."""

    action: IntentAction
    address: str
    timestamp_ms: int
    amount_neuron: int = 0
    nonce: str | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "action", IntentAction(self.action))
        except ValueError:
            raise MalformedMessage(f"unknown action {self.action!r}") from None
        try:
            object.__setattr__(self, "address", to_checksum_address(self.address))
        except InvalidAddress as e:
            raise MalformedMessage(str(e)) from None
        if type(self.timestamp_ms) is not int or self.timestamp_ms <= 0:
            raise MalformedMessage("timestamp must be positive Unix milliseconds")
        if type(self.amount_neuron) is not int or not 0 <= self.amount_neuron <= _MAX_UINT256:
            raise MalformedMessage("amount must be an int of neuron")
        if (self.action is IntentAction.FUND) != (self.amount_neuron > 0):
            raise MalformedMessage("fund needs a positive amount; other actions carry none")
        if self.nonce is not None and not (
            isinstance(self.nonce, str) and _NONCE.fullmatch(self.nonce)
        ):
            raise MalformedMessage("nonce must be 1-78 of A-Z a-z 0-9 _ -")


def intent_message(intent: WalletIntent) -> str:
    """The canonical EIP-191 text of an intent (address in EIP-55 form)."""
    head = {
        IntentAction.INITIALIZE: "Initialize 0G Broker",
        IntentAction.FUND: f"Fund {format_og(intent.amount_neuron)} OG",
        IntentAction.ANALYZE: "Analyze dream",
        IntentAction.BALANCE: "Check balance",
    }[intent.action]
    tail = f" nonce {intent.nonce}" if intent.nonce is not None else ""
    return f"{head} for {intent.address} at {intent.timestamp_ms}{tail}"


def parse_intent_message(message: str) -> WalletIntent:
    """The intent a message states; MalformedMessage unless it is in the canonical grammar."""
    action = _BY_FIRST_WORD.get(message.partition(" ")[0]) if isinstance(message, str) else None
    match = _MESSAGES[action].fullmatch(message) if action is not None else None
    if action is None or match is None:
        raise MalformedMessage("not a canonical intent message")
    if action is IntentAction.FUND:
        amount_text, address, timestamp, nonce = match.groups()
        amount = parse_og(amount_text)
    else:
        address, timestamp, nonce = match.groups()
        amount = 0
    return WalletIntent(action, address, int(timestamp), amount, nonce)


def intent_domain(chain_id: int) -> Eip712Domain:
    """The EIP-712 domain of intents on one chain."""
    return Eip712Domain(name="zerog", version="1", chain_id=chain_id)


def _typed_nonce(intent: WalletIntent) -> int:
    if intent.nonce is None or not _DECIMAL_NONCE.fullmatch(intent.nonce):
        raise MalformedMessage("an EIP-712 intent needs a decimal uint256 nonce")
    nonce = int(intent.nonce)
    if nonce > _MAX_UINT256:
        raise MalformedMessage("nonce exceeds uint256")
    return nonce


def intent_typed_message(intent: WalletIntent) -> dict[str, object]:
    """The EIP-712 message of an intent; its nonce must be a canonical decimal uint256."""
    return _typed_message(intent, intent.address, _typed_nonce(intent))


def _typed_message(intent: WalletIntent, address: str | bytes, nonce: int) -> dict[str, object]:
    return {
        "action": intent.action.value,
        "address": address,
        "amount": intent.amount_neuron,
        "nonce": nonce,
        "timestamp": intent.timestamp_ms,
    }


def sign_intent_message(signer: Signer, intent: WalletIntent) -> tuple[str, str]:
    """(canonical message, personal_sign signature): what a wallet would send."""
    message = intent_message(intent)
    return message, "0x" + signer.sign_digest(personal_message_hash(message)).hex()


def sign_intent_typed(signer: Signer, intent: WalletIntent, chain_id: int) -> str:
    """EIP-712 signature of an intent (eth_signTypedData_v4)."""
    digest = typed_data_digest(
        intent_domain(chain_id), INTENT_TYPES, INTENT_PRIMARY_TYPE, intent_typed_message(intent)
    )
    return "0x" + signer.sign_digest(digest).hex()
