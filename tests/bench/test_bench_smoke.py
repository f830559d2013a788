"""Each benchmark runs at its smallest size and yields well-formed rows (timings never asserted)."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from bench import machine, merge, profile, report, rss
from bench.context import Context
from bench.model import Limit, Measurement, Row
from bench.registry import load


def _ctx(tmp_path: Path, postgres: str | None = None) -> Context:
    return Context(quick=True, scratch=tmp_path, tiny=True, postgres=postgres)


def _well_formed(m: Measurement | None) -> None:
    assert m is not None
    assert m.label
    assert m.samples >= 1
    assert math.isfinite(m.median) and m.median > 0
    assert math.isfinite(m.p99) and m.p99 > 0


def _under_load(row: Row, service: str) -> None:
    """A memory-under-load row: the service, MiB, peak >= median, idle and the load named."""
    _well_formed(row.ours)
    assert row.ours is not None
    assert row.name.startswith(f"memory: {service} under ") and row.unit == "MiB"
    assert row.ours.p99 >= row.ours.median and not row.higher_is_better
    assert row.notes[0].startswith("idle ") and "-> peak" in row.notes[0]
    assert row.notes[1].startswith("load: ")


def _rows(results: Sequence[object]) -> list[Row]:
    rows = [r for r in results if isinstance(r, Row)]
    assert rows
    for row in rows:
        assert row.name and row.unit and row.unit != "—"
        assert not any(n.startswith("failed") for n in row.notes)
    return rows


def test_signing_rows_put_ours_beside_ethers(tmp_path: Path) -> None:
    rows = _rows(load("signing")(_ctx(tmp_path)))
    assert len(rows) == 4
    for row in rows:
        _well_formed(row.ours)
        _well_formed(row.peer)  # node and ethers are installed by make install
        assert row.ratio is not None and row.bar is not None


def test_merkle_rows_agree_on_the_root_with_the_ts_sdk(tmp_path: Path) -> None:
    rows = _rows(load("merkle")(_ctx(tmp_path)))
    for row in rows:
        _well_formed(row.ours)
    ts_rows = [r for r in rows if r.peer is not None and "TS SDK" in r.peer.label]
    assert ts_rows and all("roots identical" in r.notes for r in ts_rows)
    assert not list(tmp_path.glob("merkle-*.bin"))  # the data file is cleaned up


def test_quota_row_reports_zero_overspend(tmp_path: Path, postgres_url: str) -> None:
    rows = _rows(load("quota")(_ctx(tmp_path, postgres_url)))
    rate, latency, memory = rows
    for row in rows:
        _well_formed(row.ours)
    assert rate.unit == "reservations/s" and rate.peer is None
    assert any(n.startswith("zero overspend") for n in rate.notes)
    assert not latency.higher_is_better
    _under_load(memory, "quota")


def test_scheduler_row_sends_each_user_one_digest_within_the_limit(
    tmp_path: Path, postgres_url: str
) -> None:
    row, memory = _rows(load("scheduler")(_ctx(tmp_path, postgres_url)))
    _well_formed(row.ours)
    _under_load(memory, "scheduler")
    assert "50-user digest" in memory.name
    assert row.unit == "users/s" and row.peer is None
    notes = " ".join(row.notes)
    assert "done 50, skipped 0, failed 0" in notes
    assert "(within)" in notes
    assert "webhook sink: exactly one POST per user (50 POSTs" in notes


def test_memory_rows_name_each_started_service(tmp_path: Path, postgres_url: str) -> None:
    rows = _rows(load("memory")(_ctx(tmp_path, postgres_url)))
    quota = next(r for r in rows if r.name.startswith("memory: quota"))
    _well_formed(quota.ours)


@pytest.mark.parametrize("name", ["gateway", "storage"])
def test_devnet_benchmarks_say_they_are_not_run_at_smoke_test_size(
    name: str, tmp_path: Path
) -> None:
    (row,) = _rows(load(name)(_ctx(tmp_path)))
    assert row.ours is None and "not run at smoke-test size" in row.notes[0]


def test_rss_counts_the_children_of_a_process(tmp_path: Path) -> None:
    # A parent whose child holds 64 MiB: the tree reading includes it, the parent's alone not.
    script = (
        "import subprocess, sys; "
        "c = subprocess.Popen([sys.executable, '-c', "
        "'import sys; b = bytearray(64 << 20); print(1, flush=True); sys.stdin.read()'], "
        "stdin=subprocess.PIPE, stdout=subprocess.PIPE); "
        "c.stdout.readline(); print(1, flush=True); sys.stdin.read(); c.stdin.close(); c.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == b"1"
        status = Path(f"/proc/{parent.pid}/status").read_text().splitlines()
        own = next(int(x.split()[1]) for x in status if x.startswith("VmRSS:")) / 1024
        with rss.Sampler({"p": parent.pid}, interval=0.01) as sampler:
            tree = rss.tree_rss_mib(parent.pid)
        assert own < 60 < tree
        assert len(sampler.samples["p"]) >= 2 and min(sampler.samples["p"]) > 60
    finally:
        assert parent.stdin is not None
        parent.stdin.close()
        parent.wait(timeout=30)
        assert parent.stdout is not None
        parent.stdout.close()
    row = rss.under_load_row("svc", "a test", [10.0, 11.0], [20.0, 30.0, 25.0], "a test load")
    assert row.ours == Measurement("svc (1 process)", 25.0, 30.0, 3)
    assert row.notes[0].startswith("idle 10.5 MiB -> peak 30.0 MiB under load (+19.5 MiB)")


def test_report_lists_the_machine_and_every_row(tmp_path: Path) -> None:
    rows = [
        Row(
            "a", "ops/s", Measurement("ours", 10.0, 9.0, 3), Measurement("peer", 1.0, 0.5, 3), bar=5
        ),
        Row("b", "ms", Measurement("ours", 2.0, 4.0, 9), higher_is_better=False, notes=["x|y"]),
        Row("c", "MiB", None, notes=["did not start"]),
    ]
    text = report.render(machine.describe(), rows, [report.Section("Profile", "time in keccak")])
    assert "## Machine" in text and "Python " in text and "Node " in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(rows)
    assert "10.0x" in text and ">= 5x: met" in text and "x\\|y" in text
    assert "## Profile" in text


@pytest.mark.parametrize(
    ("ours", "peer", "bar", "verdict"),
    [(300.0, 10.0, 30.0, "met"), (150.0, 10.0, 30.0, "missed (15.0x of 30x, 50% short)")],
)
def test_verdict_says_by_how_much_a_bar_is_missed(
    ours: float, peer: float, bar: float, verdict: str
) -> None:
    row = Row(
        "r", "MB/s", Measurement("o", ours, ours, 1), Measurement("p", peer, peer, 1), bar=bar
    )
    assert row.verdict == verdict


@pytest.mark.parametrize(
    ("limits", "bar", "verdict"),
    [
        ((Limit("added p50", 1.5, 2, "ms"), Limit("added p99", 9, 10, "ms")), "", "met"),
        (
            (Limit("added p50", 26.1, 2, "ms"), Limit("added p99", 9, 10, "ms")),
            "added p50 < 2 ms, added p99 < 10 ms",
            "missed (added p50 26.1 ms of < 2 ms, 13x over)",
        ),
        (
            (Limit("added p50", 3, 2, "ms"), Limit("added p99", 180, 10, "ms")),
            "added p50 < 2 ms, added p99 < 10 ms",
            "missed (added p50 3.00 ms of < 2 ms, 1.5x over; added p99 180 ms of < 10 ms, "
            "18x over)",
        ),
        (
            (Limit("per core", 11, 150, "/s", at_most=False),),
            "per core >= 150/s",
            "missed (per core 11.0/s of >= 150/s, 93% short)",
        ),
    ],
)
def test_absolute_bars_say_by_how_much_they_are_missed(
    limits: tuple[Limit, ...], bar: str, verdict: str
) -> None:
    row = Row("r", "ms", Measurement("o", 1, 1, 1), limits=limits)
    assert row.verdict == verdict
    if bar:
        assert row.bar_text == f"{bar}: {verdict}"


def test_profile_summary_ranks_functions_by_share_of_samples() -> None:
    raw = "\n".join(
        [
            "main (x.py:1);loop (x.py:2);hash (h.py:9) 6",
            "main (x.py:1);loop (x.py:2);parse (p.py:3) 3",
            "main (x.py:1);startup (s.py:1) 1",
        ]
    )
    text = profile.summarize(raw, under="loop")
    assert text.startswith("9 samples.")
    assert "67% `hash (h.py)`" in text and "33% `parse (p.py)`" in text
    assert "startup" not in text


def test_merge_replaces_one_benchmarks_rows_and_sections_and_keeps_the_rest() -> None:
    host = machine.describe()
    old = report.render(
        host,
        [
            Row("a", "ops/s", Measurement("ours", 1.0, 1.0, 1)),
            Row("g: x", "ms", Measurement("ours", 9.0, 9.0, 1)),
        ],
        [report.Section("Profile: a", "old a"), report.Section("Profile: g", "old g")],
    )
    fresh = report.render(
        host,
        [Row("g: x", "ms", Measurement("ours", 2.0, 2.0, 1)), Row("g: y", "ms", None)],
        [report.Section("Profile: g", "new g")],
    )

    text = merge.merge(old, fresh, ["g"], "quick")

    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert [line.split(" | ")[0] for line in table[1:]] == ["| a", "| g: x", "| g: y"]
    assert "**2.00**" in text and "**9.00**" not in text
    assert "old a" in text and "new g" in text and "old g" not in text
    assert text.index("## Profile: a") < text.index("## Profile: g")
    assert "- Re-run since, rows of g (quick): " in text
    assert text.count("## Machine") == 1 and text.count("## Results") == 1
