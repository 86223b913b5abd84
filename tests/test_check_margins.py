"""docs/check_margins.md and the notebooks' check assertions stay in step (no notebook is executed).

Every ``assert`` of a notebook's code cell (and every ``lesson.check_effect`` call) is named by a
``# check: NN-name`` comment line above it; the doc has exactly one row per name, in the right notebook
and cell, whose margin is the statement's number literals. ``tools/check_margins.py`` reads both.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_spec = importlib.util.spec_from_file_location("check_margins", ROOT / "tools" / "check_margins.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


@pytest.fixture(scope="module")
def found() -> dict:
    """name → check, over every notebook; also fails on unnamed checks and names used twice."""
    named, unnamed = {}, []
    for path in NOTEBOOKS:
        for check in tool.checks(path):
            where = f"{path.name} cell {check['cell']}: {check['source']}"
            if check["id"] is None:
                unnamed.append(where)
                continue
            assert check["id"] not in named, f"the check name {check['id']} is used twice ({where})"
            named[check["id"]] = {**check, "notebook": path.name[:2], "where": where}
    assert not unnamed, (
        "these checks have no `# check: NN-name` line above them (run tools/check_margins.py --add-ids, then "
        "add their rows to docs/check_margins.md):\n" + "\n".join(unnamed)
    )
    return named


def test_every_check_has_a_row_and_every_row_a_check(found):
    rows = tool.table()
    missing = sorted(set(found) - set(rows))
    assert not missing, f"docs/check_margins.md has no row for {missing} (tools/check_margins.py prints them)"
    stale = sorted(set(rows) - set(found))
    assert not stale, f"docs/check_margins.md has rows for checks no notebook makes: {stale}"


def test_rows_name_the_notebook_cell_and_margin_of_their_check(found):
    for name, row in tool.table().items():
        check = found.get(name)
        if check is None:
            continue  # reported by the test above
        assert (row["notebook"], row["cell"]) == (check["notebook"], check["cell"]), (
            f"{name}: the doc says notebook {row['notebook']} cell {row['cell']}, it is in {check['where']}"
        )
        assert [float(m) for m in row["margin"]] == [float(m) for m in check["margin"]], (
            f"{name}: the doc's margin {row['margin']} is not the cell's {check['margin']} ({check['where']})"
        )


def test_the_parser_names_checks_margins_and_modes():
    source = (
        "%pip install x\n"
        "# check: 99-a\n"
        'assert a > b[0] + 0.01, f"{seed}: 5 is not enough"\n'
        "if not setup.quick:\n"
        "    # check: 99-b\n"
        "    lesson.check_effect(effects, 'x', margin=-0.5)\n"
        "assert 1e-4 < c\n"
    )
    source += (
        "if setup.mode != 'full':\n    # check: 99-c\n    assert c > 1\n"
        "if setup.quick:\n    # check: 99-d\n    assert d > 1\n"
    )
    a, b, unnamed, c, d = tool.cell_checks(source)
    assert (c["modes"], d["modes"]) == ("quick, lab", "quick")
    assert (a["id"], a["margin"], a["modes"]) == ("99-a", ["0.01"], "quick, lab, full")
    assert (b["id"], b["margin"], b["modes"]) == ("99-b", ["-0.5"], "lab, full")
    assert unnamed["id"] is None and unnamed["margin"] == ["0.0001"]
