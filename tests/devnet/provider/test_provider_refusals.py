"""Every refusal of the provider: the Go provider's status and `{"error": ...}` text."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from web3 import Web3

from devnet import A0GI, Devnet
from devnet.deploy import Transactor
from devnet.provider import ProviderProcess
from tests.devnet.provider.provider_helpers import PROMPT, User, chat, new_user
from zerog_signing import (
    LocalSigner,
    SignedSessionToken,
    issue_api_key,
    issue_ephemeral_token,
    keccak256,
    personal_message_hash,
)

PROMPT_TOKENS = len(PROMPT["messages"][0]["content"].split())


def _refusal(provider: ProviderProcess, authorization: str | None) -> tuple[int, str]:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = chat(provider, headers)
    return response.status_code, response.json()["error"]


@pytest.fixture
def user(running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess) -> User:
    return new_user(running_devnet, devnet_w3, devnet_provider.provider)


def test_missing_or_malformed_header(devnet_provider: ProviderProcess) -> None:
    expected = (
        400,
        "validate session: missing or invalid Authorization header, "
        "must be Bearer app-sk-<base64(rawMessage:signature)>",
    )
    assert _refusal(devnet_provider, None) == expected
    assert _refusal(devnet_provider, "Bearer sk-openai-style") == expected


def test_token_signed_by_another_key(devnet_provider: ProviderProcess, user: User) -> None:
    genuine = user.token(devnet_provider.provider)
    forger = LocalSigner.generate()
    forged_signature = forger.sign_digest(
        personal_message_hash(keccak256(genuine.raw_message.encode()))
    )
    forged = SignedSessionToken(genuine.token, genuine.raw_message, "0x" + forged_signature.hex())

    assert _refusal(devnet_provider, forged.authorization) == (
        400,
        "validate session: signature verification failed: address mismatch",
    )


def test_expired_token(devnet_provider: ProviderProcess, user: User) -> None:
    two_hours_ago = time.time_ns() // 1_000_000 - 2 * 3600_000
    expired = user.token(devnet_provider.provider, now_ms=two_hours_ago, lifetime_ms=3600_000)

    assert _refusal(devnet_provider, expired.authorization) == (
        400,
        "validate session: session token expired",
    )


def test_revoked_api_key(devnet_provider: ProviderProcess, user: User) -> None:
    provider = devnet_provider.provider
    key = issue_api_key(user.signer, provider, token_id=3, generation=0)
    assert chat(devnet_provider, {"Authorization": key.authorization}).status_code == 200

    user.tx.transact(user.inference.functions.revokeToken(provider, 3))

    assert _refusal(devnet_provider, key.authorization) == (
        400,
        "validate session: session token has been revoked",
    )
    other_key = issue_api_key(user.signer, provider, token_id=4, generation=0)
    assert chat(devnet_provider, {"Authorization": other_key.authorization}).status_code == 200


def test_revoke_all_expires_the_generation(devnet_provider: ProviderProcess, user: User) -> None:
    provider = devnet_provider.provider
    before = user.token(provider)

    user.tx.transact(user.inference.functions.revokeAllTokens(provider))

    assert _refusal(devnet_provider, before.authorization) == (
        400,
        "validate session: session token has been revoked (generation expired)",
    )
    # A token of the new generation (getAccount index 9) is served again.
    assert chat(devnet_provider, user.headers(provider)).status_code == 200


def test_token_for_another_provider(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess, user: User
) -> None:
    elsewhere = new_user(running_devnet, devnet_w3).address  # any other address
    token = issue_ephemeral_token(user.signer, elsewhere, generation=0)

    assert _refusal(devnet_provider, token.authorization) == (
        400,
        "validate session: session token is for different provider",
    )


def test_sub_account_that_cannot_pay(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    # 1 A0GI locked: exactly the minimum the provider keeps, so the input fee does not fit.
    poor = new_user(running_devnet, devnet_w3, devnet_provider.provider, transfer=A0GI)
    input_fee = PROMPT_TOKENS * 1_000_000_000

    assert _refusal(devnet_provider, poor.token(devnet_provider.provider).authorization) == (
        400,
        f"insufficient balance: locked balance {A0GI} < required {input_fee + A0GI} "
        f"(input fee {input_fee} + unsettled fee 0 + minimum locked balance {A0GI})",
    )
    poor.transfer(devnet_provider.provider, A0GI)
    assert chat(devnet_provider, poor.headers(devnet_provider.provider)).status_code == 200


def test_unsettled_fees_count_against_the_balance(
    running_devnet: Devnet, devnet_w3: Web3, start_provider: Callable[..., ProviderProcess]
) -> None:
    # Output price so high that one answer eats the whole margin above the 1 A0GI minimum.
    provider = start_provider(knobs={"output_price": A0GI // 4})
    user = new_user(running_devnet, devnet_w3, provider.provider, transfer=2 * A0GI)
    headers = user.headers(provider.provider)

    statuses = [chat(provider, headers).status_code for _ in range(2)]

    assert statuses == [200, 400]
    assert chat(provider, headers).json()["error"].startswith("insufficient balance: ")


def test_no_sub_account(
    running_devnet: Devnet, devnet_w3: Web3, devnet_provider: ProviderProcess
) -> None:
    stranger = new_user(running_devnet, devnet_w3)
    token = issue_ephemeral_token(stranger.signer, devnet_provider.provider, generation=0)
    header = token.authorization

    assert _refusal(devnet_provider, header) == (
        404,
        f"account not found: user {stranger.address} has no sub-account",
    )


def test_tee_signer_no_longer_acknowledged_by_the_owner(
    running_devnet: Devnet,
    devnet_w3: Web3,
    deployer: Transactor,
    start_provider: Callable[..., ProviderProcess],
) -> None:
    provider = start_provider()
    user = new_user(running_devnet, devnet_w3, provider.provider)
    serving = running_devnet.contracts(deployer.w3).inference

    deployer.transact(serving.functions.revokeTEESignerAcknowledgement(provider.provider))

    assert _refusal(provider, user.token(provider.provider).authorization) == (
        403,
        "the provider's TEE signer is not acknowledged by the contract",
    )
