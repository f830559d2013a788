"""A new user's first minute: the stack `make dev` builds answers a chat with no set-up call, and
every line of docs/grpcurl.md's "Start here" section works as written, in both columns."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tools import dev
from zerog.inference.v1 import inference_service_pb2 as ipb
from zerog.inference.v1 import inference_service_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "grpcurl.md"
# The ports the guide is written for; the test stack runs on free ones.
DOC_PORTS = dev.COMPOSE_PORTS


@pytest.fixture(scope="module")
def stack() -> Iterator[dev.DevStack]:
    services = dev.present_services(free_ports=True)
    with dev.dev_stack(services, {"LOG_LEVEL": "WARNING"}) as running:
        yield running


def start_here() -> list[str]:
    """Every command of the guide's "Start here" section, continuation lines joined."""
    text = GUIDE.read_text()
    section = text[text.index("## Start here") :]
    section = section[: section.index("\n## ", 1)]
    joined = re.sub(r"\\\n\s*", "", section)
    return [line for line in joined.splitlines() if line.startswith(("$B ", "grpcurl "))]


def run_as_written(command: str, stack: dev.DevStack) -> str:
    """`command` in bash with the guide's prelude, TOKEN and the stack's addresses: the only
    placeholders the guide names; grpcurl is the one `make install` puts in .venv/bin."""
    for service, port in DOC_PORTS.items():
        command = command.replace(f"127.0.0.1:{port}", stack.address(service))
    prelude = re.search(r"```\n(buf=.*?)```", GUIDE.read_text(), re.S)
    assert prelude is not None
    env = {
        **os.environ,
        "TOKEN": stack.token,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", prelude[1] + command + "\n"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (command, done.stderr)
    assert "error" not in done.stderr.lower(), (command, done.stderr)
    return done.stdout


def messages(output: str) -> list[dict[str, Any]]:
    """The JSON messages one call printed (a stream prints one per message)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := _skip_space(output, at)) < len(output):
        message, at = decoder.raw_decode(output, at)
        found.append(message)
    return found


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at].isspace():
        at += 1
    return at


def test_a_chat_is_answered_with_no_set_up_call(stack: dev.DevStack) -> None:
    with grpc.insecure_channel(stack.address("inference")) as channel:
        stub = inference_service_pb2_grpc.InferenceServiceStub(channel)
        answer = stub.ChatCompletion(
            ipb.ChatCompletionRequest(
                request_id="first-chat",
                messages=[ipb.ChatMessage(role=ipb.CHAT_ROLE_USER, content="Hello")],
            ),
            metadata=(("authorization", f"Bearer {stack.token}"),),
            timeout=60,
        )
    assert answer.choices[0].message.content
    assert answer.choices[0].message.role == ipb.CHAT_ROLE_ASSISTANT
    assert answer.routing.provider in dev.devnet_providers(stack.devnet.state)
    assert answer.usage.total_tokens > 0


def test_every_start_here_line_works_as_written(stack: dev.DevStack) -> None:
    commands = start_here()
    assert len(commands) == 10
    assert sum(c.startswith("grpcurl ") for c in commands) == 5
    outputs = {command: messages(run_as_written(command, stack)) for command in commands}

    def answered(method: str) -> list[list[dict[str, Any]]]:
        return [out for command, out in outputs.items() if command.endswith(f"Service/{method}")]

    chats = answered("ChatCompletion")
    assert len(chats) == 2
    # The second column's call is a retry of the first: the same answer, not a second call.
    contents = {str(chat[0]["choices"][0]["message"]["content"]) for chat in chats}
    assert len(contents) == 1
    for stream in answered("StreamChatCompletion"):
        assert any("contentDelta" in m or "content_delta" in m for m in stream)
        assert "usage" in stream[-1]
    for got in answered("GetObject"):
        assert got[-1] == {"chunk": "aGVsbG8="}
