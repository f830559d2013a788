"""python -m bench [names...] [--quick] [--out FILE [--merge]]: run benchmarks, print and write
the table. With --merge, the named benchmarks' rows replace theirs in an existing FILE.

BENCH_DATABASE_URL (a PostgreSQL superuser DSN) is used for throwaway databases when set;
otherwise each benchmark that needs one starts a TempCluster.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench import machine, merge, report
from bench.context import Context
from bench.model import Row
from bench.registry import BENCHMARKS, load
from bench.report import Section


def run_all(names: list[str], ctx: Context) -> tuple[list[Row], list[Section]]:
    """Run each named benchmark; one that fails becomes a row saying so, the rest go on."""
    rows: list[Row] = []
    sections: list[Section] = []
    for name in names:
        started = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            results = load(name)(ctx)
        except Exception as error:  # a broken benchmark must not hide the others' rows
            traceback.print_exc()
            results = [Row(name, "—", None, notes=[f"failed: {type(error).__name__}: {error}"])]
        for item in results:
            (rows if isinstance(item, Row) else sections).append(item)  # type: ignore[arg-type]
        print(f"bench: {name} took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return rows, sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes (tests/bench)")
    parser.add_argument("--out", type=Path, help="write the markdown here (docs/benchmarks.md)")
    parser.add_argument(
        "--merge", action="store_true", help="keep --out's other rows; replace only these"
    )
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    host, load_start = machine.describe(), machine.load_average()
    with tempfile.TemporaryDirectory(prefix="zerog-bench-") as scratch:
        rows, sections = run_all(
            names,
            Context(args.quick, Path(scratch), args.tiny, os.environ.get("BENCH_DATABASE_URL")),
        )
    load = f"{load_start:.1f} at the start, {machine.load_average():.1f} at the end"
    text = report.render(dataclasses.replace(host, load=load), rows, sections)
    if args.out:
        if args.merge and args.out.exists():
            how = "quick" if args.quick else "full size"
            text = merge.merge(args.out.read_text(), text, names, how)
        args.out.write_text(text)
        print(f"bench: wrote {args.out}", file=sys.stderr)
    print(report.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
