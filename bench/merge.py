"""`--merge`: put one benchmark's fresh rows and sections into an existing docs/benchmarks.md.

A full `make bench` takes most of an hour; re-running one benchmark should not throw the
others' rows away. Rows and sections of the same name are replaced in place (new rows go
after the last replaced one), everything else is kept, and the Machine section says which
benchmarks were re-run, when and with what load, so no reader takes them for one run.
"""

from __future__ import annotations

from collections.abc import Sequence

_RUN = "- Run: "


def _name(line: str) -> str | None:
    """The benchmark name of a table row, or None for any other line."""
    if not line.startswith("| ") or line.startswith(("| benchmark ", "|---")):
        return None
    cells = line.split(" | ")
    return cells[0].removeprefix("| ").strip()


def _sections(text: str) -> tuple[str, dict[str, str]]:
    """(everything before the first '## ' section after Results, {title: section text})."""
    head, *rest = text.split("\n## ")
    parts = {}
    for part in rest:
        title = part.split("\n", 1)[0].strip()
        parts[title] = "## " + part.rstrip("\n") + "\n"
    return head, parts


def merge(previous: str, fresh: str, names: Sequence[str], how: str) -> str:
    """`previous` with the rows and sections of `fresh`; `names`/`how` say what was re-run."""
    old_lines = previous.splitlines()
    new_rows = [line for line in fresh.splitlines() if _name(line)]
    new_names = {_name(line) for line in new_rows}
    out: list[str] = []
    inserted = False
    last_table = 0
    for line in old_lines:
        name = _name(line)
        if name in new_names:
            if not inserted:
                out += new_rows
                inserted = True
            continue
        if line.startswith("| "):
            last_table = len(out) + 1
        out.append(line)
    if not inserted:
        out[last_table:last_table] = new_rows
    fresh_run = next((line for line in fresh.splitlines() if line.startswith(_RUN)), "")
    for i, line in enumerate(out):
        if line.startswith(_RUN):
            note = f"- Re-run since, rows of {', '.join(names)} ({how}): "
            out.insert(i + 1, note + fresh_run.removeprefix(_RUN))
            break
    head, old_sections = _sections("\n".join(out) + "\n")
    _, new_sections = _sections(fresh)
    for title in ("Machine", "Results"):  # the previous run's, with the rows merged above
        new_sections.pop(title, None)
    merged = {**old_sections, **new_sections}  # a replaced section keeps its place
    return head.rstrip("\n") + "\n\n" + "\n".join(merged.values())
