"""The shared request_id rule and the ids derived from request ids (pure unit tests)."""

from __future__ import annotations

import pytest

from zerog_grpc import request_ids


def test_the_rule_takes_every_allowed_character_up_to_the_limit() -> None:
    assert len(request_ids.ALLOWED_CHARACTERS) == 94
    assert request_ids.check(request_ids.ALLOWED_CHARACTERS) is None
    assert request_ids.check("x" * request_ids.MAX_LENGTH) is None
    assert request_ids.check("x" * (request_ids.MAX_LENGTH + 1)) is not None
    for bad in ("", "a b", "tab\there", "caf\u00e9", "new\nline", "\x7f"):
        assert request_ids.check(bad) is not None, bad


def test_derived_ids_always_fit_and_never_collide() -> None:
    longest = "~" * request_ids.MAX_LENGTH
    seen = set()
    for prefix in ("usage", "v" * request_ids.MAX_PREFIX):
        for parts in ((longest,), (longest[:-1] + "}",), ("a:b", "c"), ("a", "b:c"), ("a:bc",)):
            got = request_ids.derived(prefix, *parts)
            assert request_ids.valid(got), got
            assert got.startswith(prefix + ":")
            seen.add(got)
    assert len(seen) == 10
    # The same sources always give the same id (retries replay).
    assert request_ids.derived("usage", longest) == request_ids.derived("usage", longest)


def test_a_prefix_that_leaves_no_room_is_refused() -> None:
    with pytest.raises(ValueError):
        request_ids.derived("v" * (request_ids.MAX_PREFIX + 1), "x")
    with pytest.raises(ValueError):
        request_ids.derived("has space", "x")


def test_scoped_keys_of_different_callers_differ() -> None:
    # A caller's name may hold a space; a valid request_id never does.
    assert request_ids.scoped("a b", "c") != request_ids.scoped("a", "b:c")
    assert request_ids.scoped("a b", "c").rpartition(" ")[2] == "c"
    assert request_ids.scoped("inference", "r") != request_ids.scoped("scheduler", "r")
