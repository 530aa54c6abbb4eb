"""docs/ and README are documents for users: every Markdown table renders (each row has its header's
cells and ends with a pipe), and no page keeps a work log (sessions, issue numbers, "not done in this change")."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
WORK_LOG = re.compile(r"\bsessions?\b|\bissue \d+|\(issue\b|this change|not done in", re.IGNORECASE)


def _cells(line: str) -> int:
    """Cells of a Markdown table row (pipes inside backticks or escaped do not split)."""
    text = re.sub(r"`[^`]*`", "code", line.strip().replace(r"\|", ""))
    return len(text.strip("|").split("|"))


def tables(text: str) -> list[list[tuple[int, str]]]:
    """Every table: its rows as (line number, line), header first."""
    found: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    in_code = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.lstrip().startswith("|"):
            current.append((number, line))
            continue
        if current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_table_row_has_its_headers_cells(page: Path) -> None:
    problems = []
    for table in tables(page.read_text()):
        header = _cells(table[0][1])
        if len(table) < 2 or not re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*\|?", table[1][1].strip()):
            problems.append(f"line {table[0][0]}: a table without its |---| line")
        problems += [f"line {n}: {_cells(line)} cells, header {header}" for n, line in table[1:] if _cells(line) != header]
        problems += [f"line {n}: the row does not end with |" for n, line in table if not line.rstrip().endswith("|")]
    assert not problems, f"{page.name}: " + "; ".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_keeps_a_work_log(page: Path) -> None:
    hits = [f"line {n}: {line.strip()[:80]}" for n, line in enumerate(page.read_text().splitlines(), 1) if WORK_LOG.search(line)]
    assert not hits, f"{page.name}: " + "; ".join(hits)


def test_a_broken_row_is_found() -> None:
    broken = "| a | b |\n|---|---|\n| 1 | 2 |\n| 1 | 2 | 3 |\n"
    rows = tables(broken)[0]
    assert [_cells(line) for _, line in rows] == [2, 2, 2, 3]
