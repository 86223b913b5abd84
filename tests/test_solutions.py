"""Every notebook with exercise cells: stubs as the convention says, solutions that pass their checkers,
and (slow) the solution notebook, as ``make solutions`` writes it, runs top to bottom on the solutions.
The committed notebooks (stubs: the package's reference is used) run in tests/test_notebooks.py."""

import ast
import inspect
import json
from pathlib import Path

import pytest

from edu_contrast import exercises
from edu_contrast.exercises._make_solutions import main as solutions_main

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = [p for p in NOTEBOOKS if exercises.exercise_cells(json.loads(p.read_text()))]


def _source(cell) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_stub_cells_follow_the_convention(path):
    """The stub defines NAME, whose body raises NotImplementedError("a hint"); the next cell checks it
    with fallback=True and rebinds NAME."""
    cells = json.loads(path.read_text())["cells"]
    for index, name in exercises.exercise_cells({"cells": cells}):
        (function,) = [n for n in ast.parse(_source(cells[index])).body if isinstance(n, ast.FunctionDef)]
        assert function.name == name
        last = function.body[-1]
        assert isinstance(last, ast.Raise) and last.exc.func.id == "NotImplementedError"
        assert isinstance(last.exc.args[0].value, str) and len(last.exc.args[0].value) > 10, "a hint"
        check = _source(cells[index + 1])
        assert f"{name} = exercises.check_{name}({name}, fallback=True)" in check


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_the_solution_notebook_replaces_only_the_stubs_and_each_solution_passes(path, tmp_path, capsys):
    assert solutions_main([str(path), "--out", str(tmp_path)]) == 0
    assert "solved" in capsys.readouterr().out
    committed, solved = (json.loads(p.read_text())["cells"] for p in (path, tmp_path / path.name))
    stubs = dict(exercises.exercise_cells({"cells": committed}))
    assert len(solved) == len(committed)
    for index, (before, after) in enumerate(zip(committed, solved)):
        if index not in stubs:
            assert after == before
            continue
        assert _source(after).startswith(f"# Solution: {stubs[index]}")
        namespace = {}
        exec(_source(after), namespace)  # noqa: S102
        assert getattr(exercises, f"check_{stubs[index]}")(namespace[stubs[index]]) is True


def test_make_solutions_refuses_a_missing_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        solutions_main([str(tmp_path / "nope.ipynb"), "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "argument notebooks" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_the_solution_notebook_runs_in_quick_mode_on_the_students_functions(path, solution_runs):
    """The other way round from tests/test_notebooks.py, which runs the committed stubs."""
    from edu_contrast.notebook_runner import printed_text

    run = solution_runs[path.name]
    assert run.error is None, run.error
    names = [name for _, name in exercises.exercise_cells(json.loads(path.read_text()))]
    printed = printed_text(run.nb)
    assert all(f"uses your {name}" in printed for name in names)
    assert "not written yet" not in printed and "uses the package's" not in printed


def test_the_instructors_table_lists_every_exercise_with_its_reference():
    """docs/instructors.md's table names each notebook's stubs and the reference each falls back to."""
    table = (ROOT / "docs" / "instructors.md").read_text().split("## The exercises", 1)[1]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    for path in WITH_EXERCISES:
        row = rows[path.name[:2]]
        for _, name in exercises.exercise_cells(json.loads(path.read_text())):
            reference = exercises.EXERCISES[name].reference
            module = reference.__module__.removeprefix("edu_contrast.")
            assert f"`{name}(" in row and f"`{module}.{reference.__name__}`" in row, (path.name, name)
    assert len(WITH_EXERCISES) == len(NOTEBOOKS), "every notebook has an exercise"


@pytest.mark.parametrize("name", sorted(exercises.EXERCISES))
def test_every_exercise_has_a_passing_solution_a_hint_and_falls_back_from_a_stub(name, capsys):
    """For each registered exercise: the solution `make solutions` writes passes its checker,
    ``show_solution`` names the reference, ``hint`` starts with the signature, and an untouched stub makes
    the checker hand back the reference with its one-line verdict."""
    check, reference = getattr(exercises, f"check_{name}"), exercises.EXERCISES[name].reference
    namespace = {}
    exec(exercises.solution_source(name), namespace)  # noqa: S102
    assert check(namespace[name]) is True
    capsys.readouterr()
    exercises.show_solution(name)
    out = capsys.readouterr().out
    first = next(iter(inspect.signature(reference).parameters))  # the reference's first argument
    assert f"{reference.__module__}.{reference.__name__}" in out and f"def {name}({first}" in out
    exercises.hint(name)
    assert capsys.readouterr().out.startswith(f"{name}(")

    def stub(*args, **kwargs):
        raise NotImplementedError("not written")

    assert check(stub, fallback=True) is reference
    out = capsys.readouterr().out
    assert "not written yet" in out
    assert f"uses the package's {reference.__module__}.{reference.__name__}" in out


@pytest.mark.parametrize("name", ["choose_baseline", "ablate_hardness", "choose_floor"])
def test_a_design_exercise_is_solved_with_the_reference_design(name, tmp_path):
    """The design exercises (a function that returns a run, a dict of settings) go through `make solutions`
    as every exercise: the solved cell defines NAME as the package's design, which its checker accepts."""
    names = {p: [n for _, n in exercises.exercise_cells(json.loads(p.read_text()))] for p in WITH_EXERCISES}
    (path,) = [p for p, found in names.items() if name in found]
    assert solutions_main([str(path), "--out", str(tmp_path)]) == 0
    cells = json.loads((tmp_path / path.name).read_text())["cells"]
    (solved,) = [_source(c) for c in cells if _source(c).startswith(f"# Solution: {name} ")]
    namespace = {}
    exec(solved, namespace)  # noqa: S102
    reference = exercises.EXERCISES[name].reference
    run = {"loss": "SupCon", "tau_plus": 0.1, "beta": 1.0, "epochs": 8, "calibrate_bn": False}
    assert namespace[name](dict(run)) == reference(dict(run)) != run
    assert getattr(exercises, f"check_{name}")(namespace[name]) is True
