"""notebook_runner --record-checks: each named check records its slack (how far it held) and whether it
passed; tools/check_sweep.py summarizes the records per check and mode and fills docs/check_margins.md."""

from __future__ import annotations

import ast
import importlib.util
import json
import statistics
from pathlib import Path

import nbformat
import pytest

from edu_contrast import notebook_runner
from edu_contrast._check_record import RECORDER, instrument_source, slack_expression

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_sweep", ROOT / "tools" / "check_sweep.py")
sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep)


def _slack(test: str, **names) -> float | None:
    expression = slack_expression(ast.parse(test, mode="eval").body)
    return None if expression is None else eval(ast.unparse(expression), {}, names)


@pytest.mark.parametrize(
    "test, names, expected",
    [
        ("a > b + 0.1", {"a": 1.0, "b": 0.5}, 0.4),
        ("a >= b", {"a": 0.2, "b": 0.5}, -0.3),  # a failing check: negative slack
        ("a < 0.5 * b", {"a": 1.0, "b": 4.0}, 0.5),  # a margin that scales b: relative, 1 − a / (0.5 b)
        ("a > b / 3", {"a": 2.0, "b": 3.0}, 1.0),
        ("a > b * c", {"a": 2.0, "b": 3.0, "c": 0.5}, 0.5),  # no number: absolute
        ("1 <= r < 2", {"r": 1.25}, 0.25),  # chained: the tighter side
        ("a > 0.1 and abs(c) < 1e-3", {"a": 0.5, "c": 0.0005}, 0.0005),
        ("all(b > a - 0.05 for a, b in zip(x, x[1:]))", {"x": [1.0, 1.2, 1.1]}, -0.05),
    ],
)
def test_slack_is_how_far_the_comparison_holds(test, names, expected):
    assert _slack(test, **names) == pytest.approx(expected)


@pytest.mark.parametrize("test", ["torch.allclose(a, b)", "a == b", "a > 0 and ok(b)"])
def test_checks_that_compare_no_numbers_have_no_slack(test):
    assert _slack(test) is None


def test_instrumented_cell_records_named_checks_and_still_asserts():
    source = (
        "x = 0.3\n"
        "# check: 99-big\n"
        "assert x > 0.1, 'x too small'\n"
        "for m in (0.2, 0.25):\n"
        "    # check: 99-loop\n"
        "    lesson.check_effect({'x': x}, 'x', margin=m)\n"
        "assert x < 1\n"  # unnamed: not recorded
        "# check: 99-inline\n"
        "if x: assert x > 0\n"  # after `if x:` on its line: recording it would run it unconditionally
        "# check: 99-fails\n"
        "assert x > 0.5, 'x must exceed 0.5'\n"
    )
    recorded = []

    class Lesson:
        @staticmethod
        def check_effect(effects, name, *, margin):
            assert effects[name] > margin

    def record(check_id, slack, passed):
        recorded.append((check_id, slack(), bool(passed())))

    instrumented = instrument_source(source)
    assert instrumented.count(RECORDER) == 3
    with pytest.raises(AssertionError, match="x must exceed 0.5"):
        exec(instrumented, {RECORDER: record, "lesson": Lesson})
    assert [(i, round(s, 6), p) for i, s, p in recorded] == [
        ("99-big", 0.2, True),
        ("99-loop", 0.1, True),
        ("99-loop", 0.05, True),
        ("99-fails", -0.2, False),
    ]


def test_keep_going_records_a_failing_check_and_runs_on():
    source = "x = 0.3\nif x:\n    # check: 99-fails\n    assert (x >\n            0.5), 'x'\n    y = 1\n"
    recorded = []
    namespace = {RECORDER: lambda i, slack, passed: recorded.append((i, round(slack(), 6), passed()))}
    exec(instrument_source(source, keep_going=True), namespace)
    assert recorded == [("99-fails", -0.2, False)] and namespace["y"] == 1
    with pytest.raises(AssertionError):
        exec(instrument_source(source), {RECORDER: lambda *args: None})


def test_notebook_runner_records_every_check_a_notebook_reaches(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# check: not code"),
        nbformat.v4.new_code_cell("import os\nseed = int(os.environ['EDU_CONTRAST_SEED'])"),
        nbformat.v4.new_code_cell(
            "# check: 99-seed\nassert seed + 1 > 0.5\n# check: 99-same\nassert seed == seed"
        ),
    ]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    record = tmp_path / "checks.jsonl"
    runs = list(notebook_runner.run_notebooks([path], seeds=(0, 2), record=record))
    assert [run.error for run in runs] == [None, None]
    assert nbformat.read(path, as_version=4) == nb  # the notebook on disk is not changed
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(line["id"], line["seed"], line["slack"], line["passed"]) for line in lines] == [
        ("99-seed", 0, 0.5, True),
        ("99-same", 0, None, True),
        ("99-seed", 2, 2.5, True),
        ("99-same", 2, None, True),
    ]
    assert {(line["notebook"], line["mode"]) for line in lines} == {("99_tiny.ipynb", "quick")}

    assert notebook_runner.main([str(path), "--seed", "3", "--record-checks", str(record)]) == 0
    saved = nbformat.read(tmp_path / "checks" / "99_tiny-quick-seed3.ipynb", as_version=4)
    assert saved.cells[0].source.startswith("import json")  # the recorder, then the notebook's cells
    assert len(saved.cells) == len(nb.cells) + 1
    by_check = sweep.runs_by_check([record])
    stats = sweep.stats(by_check["99-seed", "quick"])
    assert (stats["runs"], stats["failed"], stats["min"], stats["median"]) == (3, 0, 0.5, 2.5)
    assert stats["min_2sd"] == pytest.approx(0.5 - 2 * statistics.stdev([0.5, 2.5, 3.5]))
    assert "min" not in sweep.stats(by_check["99-same", "quick"])


def test_write_fills_only_unmeasured_rows(tmp_path):
    doc = tmp_path / "margins.md"
    doc.write_text(
        "| id | nb | cell | check | modes | effect min / median | margin | measured |\n"
        "| `99-a` | 99 | 2 | a | quick, lab, full | not recorded | `0.5` | old |\n"
        "| `99-b` | 99 | 2 | b | quick, lab, full | quick 0.3 / 0.4 | `0.1` | a dedicated sweep |\n"
    )
    runs = [{"seed": s, "threads": 1, "slack": 0.1 * (s + 1), "passed": True} for s in range(3)]
    by_check = {("99-a", "quick"): runs, ("99-b", "quick"): runs}
    assert sweep.write(by_check, "quick: seeds 0–2", set(), doc) == ["99-a"]
    a, b = doc.read_text().splitlines()[1:]
    assert "quick: slack 0.1 / 0.2 (sd 0.1, min − 2·sd -0.1, 3 runs)" in a and "| quick: seeds 0–2 |" in a
    assert "a dedicated sweep" in b
