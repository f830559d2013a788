"""The shared in-process stack (tests/stack.py) for the security tests, and quota servers of
their own (test_jwks_rotation.py)."""

from tests.quota.conftest import (  # noqa: F401  (fixtures)
    clock,
    quota_db_url,
    quota_pool,
    quota_template,
    start_quota,
)
from tests.stack import stack, stack_db_url  # noqa: F401  (fixtures)
