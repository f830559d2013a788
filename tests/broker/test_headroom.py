"""The top-up fast path's bookkeeping: which calls may skip the balance check, and which must
run it (no check yet, spend past half the headroom, a stale check, anything that moved the
sub-account). The end-to-end guarantees are in test_concurrency.py and test_topups.py."""

from __future__ import annotations

from devnet import A0GI
from services.broker.headroom import Headroom
from zerog_chain import AccountInfo

PROVIDER = "0x3400b89Fb9CA52F82E63e99528519F66488B50D6"
ACCOUNT = AccountInfo("0xuser", PROVIDER, 0, 10 * A0GI, 0, True, 1, 0)


def test_no_fast_path_before_a_full_check() -> None:
    assert Headroom(60).fresh(PROVIDER, 0) is None


def test_ample_headroom_is_served_until_half_of_it_is_spent() -> None:
    headroom = Headroom(60)
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, headroom.spent(PROVIDER), 0)
    assert headroom.fresh(PROVIDER.lower(), A0GI) == ACCOUNT
    headroom.spend(PROVIDER, A0GI)
    assert headroom.fresh(PROVIDER, A0GI) == ACCOUNT  # 1 spent + 1 next = half of 4
    assert headroom.fresh(PROVIDER, A0GI + 1) is None  # past half: check again
    headroom.spend(PROVIDER, A0GI + 1)
    assert headroom.fresh(PROVIDER, 0) is None


def test_fees_recorded_while_a_check_ran_still_count() -> None:
    headroom = Headroom(60)
    before = headroom.spent(PROVIDER)
    headroom.spend(PROVIDER, 2 * A0GI)  # recorded while the check read the chain
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, before, 0)
    assert headroom.fresh(PROVIDER, 1) is None


def test_forget_and_a_stale_check_send_the_caller_back_to_the_chain() -> None:
    headroom = Headroom(60)
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, 0)
    headroom.forget(PROVIDER)
    assert headroom.fresh(PROVIDER, 0) is None
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, 0)
    headroom.forget()
    assert headroom.fresh(PROVIDER, 0) is None
    always_stale = Headroom(0)
    always_stale.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, 0)
    assert always_stale.fresh(PROVIDER, 0) is None


def test_at_the_floor_any_spend_means_a_check() -> None:
    headroom = Headroom(60)
    headroom.checked(PROVIDER, ACCOUNT, 0, 0, 0)
    assert headroom.fresh(PROVIDER, 0) == ACCOUNT  # exactly at the floor is enough, as on chain
    assert headroom.fresh(PROVIDER, 1) is None


def test_a_check_that_began_before_a_forget_is_not_kept() -> None:
    headroom = Headroom(max_age=60)
    began = headroom.epoch(PROVIDER)
    headroom.forget(PROVIDER)  # a revoke-all lands while the check reads the chain
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, began)
    assert headroom.fresh(PROVIDER, 0) is None
    again = headroom.epoch(PROVIDER)
    headroom.forget()  # so does forgetting every provider
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, again)
    assert headroom.fresh(PROVIDER, 0) is None
    headroom.checked(PROVIDER, ACCOUNT, 4 * A0GI, 0, headroom.epoch(PROVIDER))
    assert headroom.fresh(PROVIDER, 0) == ACCOUNT
