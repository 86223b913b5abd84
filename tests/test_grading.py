"""Grading a folder of submissions (``python -m edu_contrast grade DIR``), built from notebook 10."""

import json
from pathlib import Path

import pytest

from edu_contrast import cli, exercises

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "10_serving.ipynb"
STUB = "def quantize_uint8(t, scale, zero_point):\n"


def submit(folder: Path, student: str, body: str | None, extra_cell: str | None = None) -> Path:
    """Notebook 10 with the stub's body replaced by ``body`` (None: untouched), and ``extra_cell``
    (e.g. a helper the body calls) appended at the end."""
    notebook = json.loads(NOTEBOOK.read_text())
    (index, _), *_ = exercises.exercise_cells(notebook)
    cell = notebook["cells"][index]
    source = "".join(cell["source"])
    if body is not None:
        source = source[: source.index(STUB) + len(STUB)] + body
    cell["source"] = source
    if extra_cell is not None:
        notebook["cells"].append({**cell, "source": extra_cell})
    path = folder / f"{student}.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    return path


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    helper = "HIGH = 255\n\ndef clip_to_byte(x):\n    return x.clamp(0, HIGH).to(torch.uint8)\n"
    submit(folder, "ada", "    return clip_to_byte(torch.round(t / scale) + zero_point)\n", helper)
    submit(folder, "bob", "    return (torch.floor(t / scale) + zero_point).clamp(0, 255).to(torch.uint8)\n")
    submit(folder, "cy", None)
    submit(folder, "dee", "    return (torch.round(t / scale) + zero_point\n")  # unclosed parenthesis
    return folder


def test_a_crash_of_the_grading_process_costs_one_notebook(tmp_path):
    path = submit(tmp_path, "fay", "    os._exit(3)\n", "import os\n")  # the function ends the process
    (row,) = exercises.grade_notebook(path)
    assert not row["passed"] and "exit code 3" in row["message"]


def test_grades_a_correct_a_wrong_a_stub_only_and_a_broken_submission(submissions):
    rows = {r["student"]: r for r in exercises.grade_folder(submissions)}
    assert sorted(rows) == ["ada", "bob", "cy", "dee"]
    assert all(r["exercise"] == "quantize_uint8" for r in rows.values())
    assert rows["ada"]["passed"] and rows["ada"]["message"] == "correct"
    assert not rows["bob"]["passed"] and "instead of rounding" in rows["bob"]["message"]
    assert not rows["cy"]["passed"] and "not written yet" in rows["cy"]["message"]
    assert not rows["dee"]["passed"] and "SyntaxError" in rows["dee"]["message"]


def test_the_command_prints_the_table(submissions, capsys):
    assert cli.main(["grade", str(submissions)]) == 0  # python -m edu_contrast grade DIR
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["student", "exercise", "result", "message"]
    assert lines[1].split()[:3] == ["ada", "quantize_uint8", "pass"]
    assert lines[2].split()[:3] == ["bob", "quantize_uint8", "FAIL"]
    assert lines[-1] == "1 of 4 passed"


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_a_folder_without_notebooks_is_one_error_line(tmp_path, capsys, make):
    folder = tmp_path / "nothing"
    if make == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("no notebooks here")
    assert cli.main(["grade", str(folder)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith(f"python -m edu_contrast grade: error: argument DIR: {folder}")
    assert "Traceback" not in error


def test_an_endless_loop_costs_one_notebook_not_the_class(tmp_path):
    path = submit(tmp_path, "eve", "    while True:\n        pass\n")
    (row,) = exercises.grade_notebook(path, timeout=5)
    assert not row["passed"] and "took over 5 s" in row["message"]


def test_a_notebook_without_exercise_cells_says_so(tmp_path):
    notebook = json.loads(NOTEBOOK.read_text())
    notebook["cells"] = notebook["cells"][:3]
    path = tmp_path / "empty.ipynb"
    path.write_text(json.dumps(notebook))
    (row,) = exercises.grade_notebook(path)
    assert not row["passed"] and "no exercise cell" in row["message"]


# ------------------------------------------------------------------------- a design exercise (issue 25 §3)

DESIGN_NOTEBOOK = NOTEBOOK.parent / "14_class_collapse.ipynb"


def submit_design(folder: Path, student: str, body: str | None) -> Path:
    """Notebook 14 with the body of its design stub ``choose_floor`` replaced by ``body`` (None: as is)."""
    notebook = json.loads(DESIGN_NOTEBOOK.read_text())
    (index,) = [i for i, name in exercises.exercise_cells(notebook) if name == "choose_floor"]
    source = "".join(notebook["cells"][index]["source"])
    if body is not None:
        source = source[: source.index("    raise NotImplementedError")] + body
    notebook["cells"][index]["source"] = source
    path = folder / f"{student}.ipynb"
    path.write_text(json.dumps(notebook, indent=1))
    return path


def test_grades_a_design_exercise_by_its_settings(tmp_path):
    """choose_floor returns a run (a dict of settings): the grader passes the right design and gives the
    checker's one-line reason for a wrong one, beside the notebook's other exercise."""
    submit_design(tmp_path, "ada", "    return dict(method, epochs=0, calibrate_bn=True)\n")
    submit_design(tmp_path, "bob", "    return dict(method, epochs=0)\n")  # BatchNorm left uncalibrated
    submit_design(tmp_path, "cy", "    return {**method, 'epochs': 0, 'calibrate_bn': True, 'seed': 1}\n")
    submit_design(tmp_path, "dee", None)
    rows = {(r["student"], r["exercise"]): r for r in exercises.grade_folder(tmp_path)}
    assert {exercise for _, exercise in rows} == {"class_conditional_negatives", "choose_floor"}
    floor = {student: rows[student, "choose_floor"] for student in ("ada", "bob", "cy", "dee")}
    assert floor["ada"]["passed"] and floor["ada"]["message"] == "correct"
    assert not floor["bob"]["passed"] and "BatchNorm is not calibrated" in floor["bob"]["message"]
    assert not floor["cy"]["passed"] and "another seed" in floor["cy"]["message"]
    assert not floor["dee"]["passed"] and "not written yet" in floor["dee"]["message"]
    assert "\n" not in floor["bob"]["message"], "one line"
