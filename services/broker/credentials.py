"""Request credentials: one cached ephemeral session token per provider (renewed an hour before
expiry or when the generation changes) and persistent API keys (token ids 0..254)."""

from __future__ import annotations

import hashlib

import asyncpg

from services.broker.errors import (
    ApiKeyNotFound,
    ApiKeyRevoked,
    ApiKeysExhausted,
    ProviderNotAcknowledged,
)
from services.broker.store import api_keys, transactions
from services.broker.store.api_keys import ApiKeyRow
from zerog_chain import AccountInfo, ComputeContracts, Receipt
from zerog_grpc import utc_now
from zerog_signing import (
    SessionToken,
    SignedSessionToken,
    Signer,
    first_available_token_id,
    issue_api_key,
    issue_ephemeral_token,
    sign_session_token,
)


def _now_ms() -> int:
    return int(utc_now().timestamp() * 1000)


class Credentials:
    """Issues session tokens and API keys for the wallet."""

    def __init__(self, pool: asyncpg.Pool, compute: ComputeContracts, signer: Signer) -> None:
        self._pool = pool
        self._compute = compute
        self._signer = signer
        self._tokens: dict[str, SignedSessionToken] = {}

    async def account(self, provider: str) -> AccountInfo:
        """The acknowledged sub-account; ProviderNotAcknowledged otherwise."""
        account = await self._compute.get_account(provider)
        if account is None or not account.acknowledged:
            raise ProviderNotAcknowledged(provider)
        return account

    def ephemeral(self, provider: str, generation: int) -> SignedSessionToken:
        """The cached token for the provider, renewed when near expiry or the generation moved."""
        key = provider.lower()
        cached = self._tokens.get(key)
        now = _now_ms()
        if (
            cached is not None
            and cached.token.generation == generation
            and not cached.token.needs_renewal(now)
        ):
            return cached
        token = issue_ephemeral_token(self._signer, provider, generation=generation, now_ms=now)
        self._tokens[key] = token
        return token

    def forget(self, provider: str) -> None:
        """Drop the cached token (after revoke-all)."""
        self._tokens.pop(provider.lower(), None)

    async def create_api_key(
        self, provider: str, label: str, expires_ms: int
    ) -> tuple[ApiKeyRow, SignedSessionToken]:
        """A new key with the lowest token id never used for this provider."""
        account = await self.account(provider)
        now = _now_ms()
        async with self._pool.acquire() as conn, conn.transaction():
            used = await api_keys.used_token_ids(conn, provider)
            try:
                token_id = first_available_token_id(account.revoked_bitmap, used)
            except ValueError:
                raise ApiKeysExhausted(f"no token id left for {provider}") from None
            signed = issue_api_key(
                self._signer,
                provider,
                token_id=token_id,
                generation=account.generation,
                revoked_bitmap=account.revoked_bitmap,
                # Never 0 for a key that has an expiry: 0 means it never expires.
                expires_in_ms=max(expires_ms - now, 1) if expires_ms else 0,
                now_ms=now,
            )
            row = ApiKeyRow(
                provider,
                token_id,
                label,
                account.generation,
                signed.token.timestamp,
                signed.token.expires_at,
                signed.token.nonce,
                False,
                None,  # type: ignore[arg-type]  # set by the database
            )
            digest = hashlib.sha256(signed.api_key.encode()).hexdigest()
            await api_keys.insert_api_key(conn, row, digest)
        saved = await api_keys.get_api_key(self._pool, provider, token_id)
        assert saved is not None
        return saved, signed

    def reissue(self, row: ApiKeyRow) -> SignedSessionToken:
        """The same token again from its stored fields (signatures are deterministic)."""
        token = SessionToken(
            self._signer.address,
            row.provider,
            row.issued_ms,
            row.expires_ms,
            row.nonce,
            row.generation,
            row.token_id,
        )
        return sign_session_token(self._signer, token)

    async def revoke(
        self, provider: str, token_id: int, request_id: str
    ) -> tuple[ApiKeyRow, Receipt]:
        """revokeToken on chain, then mark the key revoked."""
        row = await api_keys.get_api_key(self._pool, provider, token_id)
        if row is None:
            raise ApiKeyNotFound(f"no API key {token_id} for provider {provider}")
        # A retry of this request resumes its transaction (even once the key shows revoked).
        earlier = await transactions.request_transactions(self._pool, request_id, "REVOKE_TOKEN")
        receipt = await self._compute.sender.resume(earlier)
        if receipt is None:
            if row.revoked:
                raise ApiKeyRevoked(
                    f"API key {token_id} for provider {provider} is already revoked"
                )
            receipt = await self._compute.revoke_token(provider, token_id, request_id=request_id)
        saved = await api_keys.revoke_api_key(self._pool, provider, token_id)
        assert saved is not None
        return saved, receipt
