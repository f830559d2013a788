"""Session tokens signed/s and tokens + wallet intents verified/s: zerog_signing vs ethers (TS SDK).

Both sides do the same work on the same key: tokens are built as the SDK's
generateSessionToken does (nonce, JSON, keccak, EIP-191 over the hash, base64 header);
verification runs the provider's checks and recovers the signer; intents are checked for
format, window, signer and nonce. The inputs to verify are made once and verified by both.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from bench.context import Context
from bench.model import Measurement, Row
from bench.node import PeerUnavailable, run_node
from bench.profile import profile_snippet
from bench.report import Section
from bench.timing import async_rates, rates
from zerog_signing import (
    IntentAction,
    IntentVerifier,
    LocalSigner,
    MemoryNonceStore,
    ReplayGuard,
    WalletIntent,
    intent_typed_message,
    issue_ephemeral_token,
    sign_intent_message,
    sign_intent_typed,
    verify_session_header,
)

# A throwaway key used only here (keccak256("zerog-bench")); never holds funds.
KEY = "0x7e1a1b7c9d3c2a5e4f60718293a4b5c6d7e8f90112233445566778899aabbcc1"
PROVIDER = "0x1111111111111111111111111111111111111111"
CHAIN_ID = 16601
WINDOW = timedelta(minutes=10)
OURS, PEER = "zerog_signing", "ethers 6.13.1 (TS SDK path)"


@dataclass(frozen=True)
class Inputs:
    """Signed things to verify, made once and verified by both sides."""

    tokens: list[str]
    personal: list[tuple[str, str]]
    typed: list[tuple[WalletIntent, str]]

    def for_node(self) -> dict[str, object]:
        typed = [
            {
                "value": {
                    k: str(v) if isinstance(v, int) else v
                    for k, v in intent_typed_message(i).items()
                },
                "signature": sig,
            }
            for i, sig in self.typed
        ]
        personal = [{"message": m, "signature": s} for m, s in self.personal]
        return {"tokens": self.tokens, "intents191": personal, "intents712": typed}


def _inputs(signer: LocalSigner, count: int) -> Inputs:
    now = time.time_ns() // 1_000_000
    intents = [
        WalletIntent(IntentAction.FUND, signer.address, now, 5 * 10**17, str(i))
        for i in range(count)
    ]
    return Inputs(
        [issue_ephemeral_token(signer, PROVIDER, generation=0).authorization for _ in range(count)],
        [sign_intent_message(signer, intent) for intent in intents],
        [(intent, sign_intent_typed(signer, intent, CHAIN_ID)) for intent in intents],
    )


def _verifier() -> IntentVerifier:
    return IntentVerifier(ReplayGuard(MemoryNonceStore(), window=WINDOW), chain_id=CHAIN_ID)


async def _ours(
    signer: LocalSigner, batches: int, size: int, inputs: Inputs
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    out["sign"] = rates(
        batches, size, lambda i: issue_ephemeral_token(signer, PROVIDER, generation=0).authorization
    )
    tokens = inputs.tokens
    out["verifyTokens"] = rates(
        batches,
        size,
        lambda i: verify_session_header(
            tokens[i], provider=PROVIDER, generation=0, revoked_bitmap=0
        ),
    )
    verifier = _verifier()

    def reset() -> None:
        nonlocal verifier
        verifier = _verifier()  # a fresh nonce store: the same intents are new again

    async def one_personal(i: int) -> object:
        message, signature = inputs.personal[i]
        return await verifier.verify_message(message, signature)

    async def one_typed(i: int) -> object:
        intent, signature = inputs.typed[i]
        return await verifier.verify_typed(intent, signature)

    out["verify191"] = await async_rates(batches, size, one_personal, reset)
    out["verify712"] = await async_rates(batches, size, one_typed, reset)
    return out


ROWS = (
    ("sign", "session token: sign (ephemeral, full header)", 10.0),
    ("verifyTokens", "session token: verify (provider checks + recovery)", 30.0),
    ("verify191", "wallet intent EIP-191: verify (window, recovery, nonce)", 30.0),
    ("verify712", "wallet intent EIP-712: verify (window, recovery, nonce)", 30.0),
)


def run(ctx: Context) -> list[Row | Section]:
    """Four rows, ours beside ethers.

    The machine may be shared, so ours and the peer alternate in rounds: load that comes
    and goes hits both sides alike.
    """
    rounds, batches = ctx.pick(3, 1, 1), ctx.pick(3, 5, 1)
    ours_size, peer_size = ctx.pick(3000, 1000, 20), ctx.pick(300, 100, 5)
    signer = LocalSigner.from_hex(KEY)
    inputs = _inputs(signer, max(ours_size, peer_size))
    ours: dict[str, list[float]] = {key: [] for key, _, _ in ROWS}
    peer: dict[str, list[float]] | None = {key: [] for key, _, _ in ROWS}
    notes = [
        f"one core; {rounds} rounds of {batches} batches of {ours_size} (ours) / {peer_size} (peer)"
    ]
    for _ in range(rounds):
        for key, values in asyncio.run(_ours(signer, batches, ours_size, inputs)).items():
            ours[key] += values
        if peer is None:
            continue
        try:
            payload = {
                "key": KEY,
                "provider": PROVIDER,
                "chainId": CHAIN_ID,
                "windowMs": int(WINDOW.total_seconds() * 1000),
                "batches": batches,
                "peerSize": peer_size,
                **inputs.for_node(),
            }
            for key, values in run_node(ctx, "signing.mjs", payload, timeout=600).items():
                peer[key] += values
        except PeerUnavailable as e:
            notes.append(f"peer not run: {e}")
            peer = None
    rows: list[Row | Section] = []
    missed: list[str] = []
    for key, name, bar in ROWS:
        peer_m = Measurement.of_rates(PEER, peer[key]) if peer else None
        row = Row(
            name, "ops/s", Measurement.of_rates(OURS, ours[key]), peer_m, bar=bar, notes=notes
        )
        rows.append(row)
        if row.verdict.startswith("missed"):
            missed.append(key)
    if missed and not ctx.tiny:
        rows += [_profile(ctx, key) for key in missed]
    return rows


def spin(key: str, seconds: float) -> None:
    """Run one operation of ROWS in a loop for `seconds` (what the profiler samples)."""
    signer = LocalSigner.from_hex(KEY)
    inputs = _inputs(signer, 2000)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        asyncio.run(_ours_one(signer, key, inputs))


async def _ours_one(signer: LocalSigner, key: str, inputs: Inputs) -> None:
    if key == "sign":
        for _ in range(2000):
            issue_ephemeral_token(signer, PROVIDER, generation=0)
    elif key == "verifyTokens":
        for token in inputs.tokens:
            verify_session_header(token, provider=PROVIDER, generation=0, revoked_bitmap=0)
    elif key == "verify191":
        verifier = _verifier()
        for message, signature in inputs.personal:
            await verifier.verify_message(message, signature)
    else:
        verifier = _verifier()
        for intent, signature in inputs.typed:
            await verifier.verify_typed(intent, signature)


def _profile(ctx: Context, key: str) -> Section:
    name = next(n for k, n, _ in ROWS if k == key)
    code = f"from bench.signing import spin\nspin({key!r}, {ctx.pick(6, 3, 1)})"
    summary = profile_snippet(code, ctx.scratch, f"signing-{key}", under="_ours_one")
    return Section(f"Profile: {name} (ours)", WHERE + summary)


WHERE = """libsecp256k1 does the elliptic-curve work: `secp256k1_ecdsa_recover` /
`secp256k1_ecdsa_sign_recoverable`, called straight through coincurve's cffi module from
zerog_signing's ecdsa.py. That is the floor, about 50 us per recovery and 33 us per
signature on an idle core here: its share is the entry point's line under "total"; in the
"self" list its internals show as bare addresses in _libsecp256k1. The rest is ours. For a
token verify, 15-20 us of CPU on top of the recovery: three keccaks (token, EIP-191
digest, public key), base64 (stdlib strict mode; the Go-compatible decoder only for what
that refuses), the token JSON (a regex for the SDK's own form; the JSON decoder and Go's
rules only for anything else), the frozen SessionToken, hex, the checks. For intents add
the EIP-55 checksum and the nonce store; for signing, the SDK's nonce (V8's base-36
digits) and the header. On a loaded machine a row can miss its bar by noise (compare the
p99 column with the median); the profile shows how much time is left above the floor.
py-spy with native frames:

"""
