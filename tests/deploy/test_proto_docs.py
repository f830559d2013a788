"""docs/api.md's generator: every service and method of the protos, with their comments."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import proto_docs

ROOT = Path(__file__).resolve().parents[2]


def test_reference_lists_every_rpc_with_its_comment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the generator takes paths as `make docs-api` passes them
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "protos").rglob("*.proto"))
    text = proto_docs.render(files)
    protos = proto_docs.descriptor_set(files).file
    ours = [p for p in protos if p.package.startswith("zerog.")]
    assert ours
    for proto in ours:
        assert f"## `{proto.name}` (package `{proto.package}`)" in text
        for svc in proto.service:
            assert f"### service {proto.package}.{svc.name}" in text
            for method in svc.method:
                row = next(
                    line for line in text.splitlines() if line.startswith(f"| `{method.name}` |")
                )
                # The last cell is the rpc's comment, which buf STANDARD plus our style require.
                assert row.rstrip(" |").rsplit("|", 1)[-1].strip(), method.name
        for message in proto.message_type:
            assert f"### {proto.package}.{message.name}" in text
