"""The shared in-process stack (tests/stack.py) and the scheduler's database and webhook
endpoint (tests/scheduler) for the fault tests."""

from tests.scheduler.conftest import (  # noqa: F401  (fixtures)
    db,
    receiver,
    scheduler_db_url,
    scheduler_template,
)
from tests.stack import stack, stack_db_url  # noqa: F401  (fixtures)
