"""The shared in-process stack (tests/stack.py) for the security tests."""

from tests.stack import stack, stack_db_url  # noqa: F401  (fixtures)
