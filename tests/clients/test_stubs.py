"""The client kit's stubs are exactly the generated ones, and the TypeScript template works."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("broker", "inference", "quota", "scheduler", "storage")


def _files(top: Path) -> set[str]:
    return {
        str(p.relative_to(top))
        for p in top.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name != "py.typed"
    }


def test_the_python_kit_ships_what_make_protos_generates() -> None:
    gen, kit = ROOT / "gen" / "zerog", ROOT / "clients" / "python" / "src" / "zerog"
    assert _files(gen) == _files(kit), "run make protos"
    _, differ, errors = filecmp.cmpfiles(gen, kit, sorted(_files(gen)), shallow=False)
    assert differ == [] and errors == [], "run make protos"
    assert (kit / "py.typed").exists()
    assert (ROOT / "clients" / "python" / "src" / "zerog_client" / "py.typed").exists()


def test_the_typescript_template_generates_every_service(tmp_path: Path) -> None:
    subprocess.run(
        [
            str(ROOT / "node_modules" / ".bin" / "buf"),
            "generate",
            "--template",
            "buf.gen.ts.yaml",
            "-o",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = tmp_path / "clients" / "typescript" / "gen" / "zerog"
    for service in SERVICES:
        code = (out / service / "v1" / f"{service}_service_pb.ts").read_text()
        assert "GenService<" in code and f"{service.capitalize()}Service" in code
