"""Render docs/api.md from the protos: services, methods, messages and enums with their comments.

protoc-gen-doc is a Go binary; this reads the same information from the descriptor set that
grpc_tools' protoc writes (`--descriptor_set_out --include_source_info`).
Usage: python -m tools.proto_docs --out docs/api.md protos/zerog/.../*.proto
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import grpc_tools  # type: ignore[import-untyped]  # no stubs; only its path is used
from google.protobuf import descriptor_pb2

FDP = descriptor_pb2.FieldDescriptorProto
SCALARS = {v: k.removeprefix("TYPE_").lower() for k, v in FDP.Type.items()}
Comments = dict[tuple[int, ...], str]


def descriptor_set(files: Sequence[str], root: str = "protos") -> descriptor_pb2.FileDescriptorSet:
    """Compile the protos (with imports and comments) into one FileDescriptorSet."""
    include = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        args = [f"-I{root}", f"-I{include}", f"--descriptor_set_out={out}", "--include_source_info"]
        relative = [str(Path(f).relative_to(root)) for f in files]
        subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args, *relative], check=True)
        result = descriptor_pb2.FileDescriptorSet()
        result.ParseFromString(out.read_bytes())
        return result


def _comments(proto: descriptor_pb2.FileDescriptorProto) -> Comments:
    return {
        tuple(loc.path): " ".join(loc.leading_comments.split())
        for loc in proto.source_code_info.location
        if loc.leading_comments.strip()
    }


def _type(field: descriptor_pb2.FieldDescriptorProto) -> str:
    name = field.type_name.lstrip(".") if field.type_name else SCALARS[field.type]
    if field.label == FDP.LABEL_REPEATED:
        return f"repeated {name}"
    return f"optional {name}" if field.proto3_optional else name


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def _message(
    msg: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...], c: Comments
) -> list[str]:
    name = f"{prefix}.{msg.name}"
    lines = [f"### {name}", ""]
    if c.get(path):
        lines += [c[path], ""]
    if msg.field:
        lines += ["| field | type | description |", "|---|---|---|"]
        for i, f in enumerate(msg.field):
            lines.append(f"| `{f.name}` | `{_type(f)}` | {_cell(c.get((*path, 2, i), ''))} |")
        lines.append("")
    for i, nested in enumerate(msg.nested_type):
        if not nested.options.map_entry:
            lines += _message(nested, name, (*path, 3, i), c)
    for i, enum in enumerate(msg.enum_type):
        lines += _enum(enum, name, (*path, 4, i), c)
    return lines


def _enum(
    enum: descriptor_pb2.EnumDescriptorProto, prefix: str, path: tuple[int, ...], c: Comments
) -> list[str]:
    lines = [f"### {prefix}.{enum.name} (enum)", ""]
    if c.get(path):
        lines += [c[path], ""]
    lines += ["| value | number | description |", "|---|---|---|"]
    for i, v in enumerate(enum.value):
        lines.append(f"| `{v.name}` | {v.number} | {_cell(c.get((*path, 2, i), ''))} |")
    return [*lines, ""]


def render_file(proto: descriptor_pb2.FileDescriptorProto) -> list[str]:
    """Markdown for one .proto file."""
    c, pkg = _comments(proto), proto.package
    lines = [f"## `{proto.name}` (package `{pkg}`)", ""]
    for si, svc in enumerate(proto.service):
        lines += [f"### service {pkg}.{svc.name}", ""]
        if c.get((6, si)):
            lines += [c[(6, si)], ""]
        lines += ["| method | request | response | description |", "|---|---|---|---|"]
        for mi, m in enumerate(svc.method):
            req = ("stream " if m.client_streaming else "") + m.input_type.lstrip(".")
            res = ("stream " if m.server_streaming else "") + m.output_type.lstrip(".")
            lines.append(f"| `{m.name}` | `{req}` | `{res}` | {_cell(c.get((6, si, 2, mi), ''))} |")
        lines.append("")
    for i, msg in enumerate(proto.message_type):
        lines += _message(msg, pkg, (4, i), c)
    for i, enum in enumerate(proto.enum_type):
        lines += _enum(enum, pkg, (5, i), c)
    return lines


def render(files: Sequence[str]) -> str:
    """The whole API reference for the given proto files (their imports are not repeated)."""
    wanted = {str(Path(f).relative_to("protos")) for f in files}
    protos = [p for p in descriptor_set(files).file if p.name in wanted]
    lines = [
        "# API reference",
        "",
        "Generated from `protos/` by `make docs-api` (tools/proto_docs.py); do not edit by hand.",
        "Every RPC needs a bearer JWT (see operations.md); health and reflection do not.",
        "",
    ]
    for proto in sorted(protos, key=lambda p: p.name):
        lines += render_file(proto)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference to --out (or check it with --check)."""
    parser = argparse.ArgumentParser(prog="python -m tools.proto_docs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--check", action="store_true", help="fail if --out is not up to date")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    text = render(args.files)
    if args.check:
        current = args.out.read_text() if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is stale: run make docs-api", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
