"""The shared in-process stack (tests/stack.py), the scheduler's database and webhook endpoint
(tests/scheduler), and a cuttable proxy in front of the chain RPC, for the fault tests."""

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.faults.tcp_proxy import TcpProxy
from tests.processes import ServiceProcess
from tests.scheduler.conftest import (  # noqa: F401  (fixtures)
    db,
    receiver,
    scheduler_db_url,
    scheduler_template,
)
from tests.stack import Stack, stack, stack_db_url  # noqa: F401  (fixtures)


@pytest.fixture
async def proxy(stack: Stack) -> AsyncIterator[TcpProxy]:  # noqa: F811  (the fixture above)
    """127.0.0.1:<port> forwarding to the devnet's chain RPC, for a broker to use as ZG_RPC_URL."""
    rpc = urlsplit(stack.devnet.state.rpc_url)
    running = TcpProxy(rpc.hostname or "127.0.0.1", rpc.port or 8545)
    await running.restore()
    yield running
    await running.cut()


@pytest.fixture
async def processes() -> AsyncIterator[list[ServiceProcess]]:
    """Service processes a test starts (append them); killed after it if still running."""
    started: list[ServiceProcess] = []
    yield started
    for process in started:
        if process.process.returncode is None:
            process.kill()
            await process.wait()
