"""`make dev`: the whole stack comes up, answers grpcurl-style calls and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from zerog.quota.v1 import quota_service_pb2 as quota_pb
from zerog_db.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
SERVICE_LINE = re.compile(r"^  (\w+)\s+(127\.0\.0\.1:\d+)  \(metrics (\S+)\)$")


class DevStack:
    """`python tools/dev.py` (what `make dev` runs) and what it printed."""

    def __init__(self) -> None:
        self.http_port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "tools/dev.py"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            # Free ports, never compose's: gRPC binds with SO_REUSEPORT, so two stacks that
            # both found 50052 free (another checkout's test run, a `make dev` left running)
            # would share it and answer each other's calls. The docs' ports are substituted.
            env={
                **os.environ,
                "LOG_LEVEL": "WARNING",
                **{f"{name.upper()}_PORT": str(free_port()) for name in DOC_PORTS},
                # Inference's OpenAI endpoint too: a second stack on 8080 could not start.
                "INFERENCE_HTTP_PORT": str(self.http_port),
            },
        )
        self.lines: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C stops everything."):
                return
        code = self.process.wait()
        self.process.stdout.close()
        raise AssertionError(f"dev stack exited with {code}: {self.lines}")

    def addresses(self) -> dict[str, str]:
        return {m[1]: m[2] for line in self.lines if (m := SERVICE_LINE.match(line))}

    def token(self) -> str:
        exported = [line for line in self.lines if line.startswith("export TOKEN=")]
        return exported[0].split()[1].removeprefix("TOKEN=")


@pytest.fixture(scope="module")
def dev_stack() -> Iterator[DevStack]:
    stack = DevStack()
    yield stack
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
        stack.process.wait(timeout=120)
    assert stack.process.stdout is not None
    stack.process.stdout.close()


def buf_curl(*args: str) -> str:
    command = [str(BUF), "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60).stdout


def test_every_service_is_printed_and_serving(dev_stack: DevStack) -> None:
    addresses = dev_stack.addresses()
    assert "quota" in addresses
    present = {p.name for p in (ROOT / "services").iterdir() if (p / "__main__.py").exists()}
    assert set(addresses) == present
    for address in addresses.values():
        with grpc.insecure_channel(address) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)  # the stubs lack its methods
            answer = health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    openai = f"http://127.0.0.1:{dev_stack.http_port}/v1"
    assert any(line.startswith(f"  openai      {openai}  ") for line in dev_stack.lines)
    with socket.create_connection(("127.0.0.1", dev_stack.http_port), timeout=5):
        pass  # inference's OpenAI-compatible endpoint listens where the report says


def test_reflection_lists_every_method_with_buf_curl(dev_stack: DevStack) -> None:
    listed = set(buf_curl("--list-methods", f"http://{dev_stack.addresses()['quota']}").split())
    quota = quota_pb.DESCRIPTOR.services_by_name["QuotaService"]
    assert {f"{quota.full_name}/{method.name}" for method in quota.methods} <= listed


def test_the_printed_token_and_command_work(dev_stack: DevStack) -> None:
    address = dev_stack.addresses()["quota"]
    answer = buf_curl(
        "-H",
        f"authorization: Bearer {dev_stack.token()}",
        "-d",
        '{"subject": "user:alice"}',
        f"http://{address}/zerog.quota.v1.QuotaService/GetQuota",
    )
    assert json.loads(answer)["subject"] == "user:alice"


DOCS = ROOT / "docs"
DOC_PORTS = {
    "quota": 50051,
    "broker": 50052,
    "inference": 50053,
    "storage": 50054,
    "scheduler": 50055,
}


def doc_commands() -> list[str]:
    """Every buf curl line of docs/grpcurl.md, continuation lines joined, table cells included."""
    text = (DOCS / "grpcurl.md").read_text()
    commands = list(re.findall(r"`(\$B [^`]+)`", text))
    joined = re.sub(r"\\\n\s*", "", text)
    commands += [line.strip() for line in joined.splitlines() if line.startswith("$B ")]
    return commands


def shell_prelude() -> str:
    """The docs' own definitions: B from grpcurl.md, token() from operations.md."""
    grpcurl = (DOCS / "grpcurl.md").read_text()
    operations = (DOCS / "operations.md").read_text()
    definitions = re.search(r"```\n(buf=.*?)```", grpcurl, re.S)
    token = re.search(r"```\n(token\(\).*?)```", operations, re.S)
    assert definitions and token
    return definitions[1] + token[1]


def test_the_grpcurl_walkthrough_works_as_written(dev_stack: DevStack) -> None:
    addresses = dev_stack.addresses()
    commands = doc_commands()
    assert len(commands) >= 8
    for command in commands:
        for service, port in DOC_PORTS.items():
            # The guide's ports, as make dev takes them when free; this stack's are others.
            command = command.replace(f"127.0.0.1:{port}", addresses[service])
        streaming = "WatchAlerts" in command
        # TOKEN: the admin token make dev prints, which the guide's first section uses.
        script = f"TOKEN={dev_stack.token()}\n" + shell_prelude()
        script += ("timeout 3 " if streaming else "") + command + "\n"
        done = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        # A watch runs until stopped: timeout's 124 after a clean start is its success.
        assert done.returncode in ((0, 124) if streaming else (0,)), (command, done.stderr)
        assert "error" not in done.stderr.lower(), (command, done.stderr)


def test_the_runbook_top_up_works_as_written(dev_stack: DevStack) -> None:
    operations = (DOCS / "operations.md").read_text()
    section = operations[operations.index("## Top up the ledger") :]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    broker = dev_stack.addresses()["broker"]
    script = shell_prelude() + block[1].replace("127.0.0.1:50052", broker)
    done = subprocess.run(
        ["bash", "-ec", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    ledger, deposit = (json.loads(part) for part in re.findall(r"\{.*?\n\}", done.stdout, re.S))
    assert (
        int(deposit["ledger"]["totalNeuron"]) == int(ledger["ledger"]["totalNeuron"]) + 5 * 10**18
    )


def test_sigterm_stops_everything(dev_stack: DevStack) -> None:
    addresses = dev_stack.addresses()
    dev_stack.process.send_signal(signal.SIGTERM)
    assert dev_stack.process.wait(timeout=120) == 0
    for address in addresses.values():
        with grpc.insecure_channel(address) as channel:
            health: Any = health_pb2_grpc.HealthStub(channel)
            with pytest.raises(grpc.RpcError):
                health.Check(health_pb2.HealthCheckRequest(), timeout=2)
