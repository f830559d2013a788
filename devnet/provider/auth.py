"""The provider's request check: session token as 0G's Go broker checks it, then the account.

Token refusals come from zerog_signing with the Go texts (status 400, `validate session: ...`).
The account checks follow specs/zg-compute.md (account exists and acknowledged, TEE signer
acknowledged, locked balance covers input fee + unsettled fee + 1 A0GI); where the spec gives
no exact text, the texts below are ours and stable, so tests can pin them.
"""

from __future__ import annotations

from dataclasses import dataclass

from devnet.provider.chain import MIN_LOCKED_BALANCE, ChainReader, ChainView
from devnet.provider.ledger import FeeLedger
from zerog_signing import (
    SessionTokenRejected,
    check_session_token,
    parse_session_header,
    to_checksum_address,
)


@dataclass(frozen=True)
class Refusal(Exception):
    """An HTTP refusal: `{"error": message}` with `status`."""

    status: int
    message: str


class RequestAuthenticator:
    """Checks the Authorization header and the user's sub-account for one call."""

    def __init__(self, chain: ChainReader, provider: str, ledger: FeeLedger) -> None:
        self._chain = chain
        self._provider = provider
        self._ledger = ledger

    async def user(self, authorization: str | None) -> str:
        """The caller's checksummed address once the token is valid (no balance check)."""
        return (await self._verify(authorization))[0]

    async def _verify(self, authorization: str | None) -> tuple[str, ChainView]:
        try:
            parsed = parse_session_header(authorization)
        except SessionTokenRejected as e:
            raise Refusal(e.http_status, e.wire_error) from None
        try:
            user = to_checksum_address(parsed.address)
        except ValueError:
            user = None
        view = await self._chain.view(user) if user else None
        account = view.account if view else None
        try:
            check_session_token(
                parsed,
                provider=self._provider,
                # Go passes zeros when the account does not exist, and so do we.
                generation=account.generation if account else 0,
                revoked_bitmap=account.revoked_bitmap if account else 0,
            )
        except SessionTokenRejected as e:
            raise Refusal(e.http_status, e.wire_error) from None
        # a recovered signature matched token.address, so the address parsed and was read
        assert user is not None and view is not None
        return user, view

    async def payer(self, authorization: str | None, input_fee: int) -> str:
        """user(), then the sub-account must exist, be acknowledged and cover the call."""
        user, view = await self._verify(authorization)
        account = view.account
        if account is None:
            raise Refusal(404, f"account not found: user {user} has no sub-account")
        if not account.acknowledged:
            raise Refusal(403, f"user {user} has not acknowledged the provider's TEE signer")
        if not view.tee_signer_acknowledged:
            raise Refusal(403, "the provider's TEE signer is not acknowledged by the contract")
        unsettled = self._ledger.unsettled(user)
        required = input_fee + unsettled + MIN_LOCKED_BALANCE
        if account.locked < required:
            raise Refusal(
                400,
                f"insufficient balance: locked balance {account.locked} < required {required} "
                f"(input fee {input_fee} + unsettled fee {unsettled} + "
                f"minimum locked balance {MIN_LOCKED_BALANCE})",
            )
        return user
