"""Every notebook: well-formed as committed, and runs top to bottom in quick mode with its checks passing."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BADGE = "https://colab.research.google.com/github/edu-contrast/edu_contrast/blob/main/notebooks/{name}"


def _cells(path):
    return json.loads(path.read_text())["cells"]


def _code(path):
    return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in _cells(path):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_title_badge_run_time_and_setup(path):
    cells = _cells(path)
    intro = "".join(cells[0]["source"])
    assert intro.startswith("# "), "first cell: a markdown title"
    assert BADGE.format(name=path.name) in intro, "Colab badge pointing at this notebook"
    assert re.search(r"run time", intro, re.IGNORECASE), "expected run time stated"
    assert re.search(r"you will learn", intro, re.IGNORECASE), "what you will learn"
    setup = _code(path)[0]
    assert "google.colab" in setup and "notebook_setup" in setup, "first code cell is the Colab/local setup"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_checks_exercise_and_explorer(path):
    code = "\n".join(_code(path))
    assert re.search(r"^\s*assert ", code, re.MULTILINE), "check cells assert the effect taught"
    assert "exercises.check_" in code, "an exercise checked by edu_contrast.exercises"
    assert "widgets" in code, "an ipywidgets explorer"


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_in_quick_mode(path):
    from edu_contrast.notebook_runner import execute_notebook

    nb, seconds = execute_notebook(path, quick=True)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {seconds:.1f} s in quick mode")


@pytest.mark.slow
@pytest.mark.notebook
def test_runner_cell_timeout_applies_in_quick_mode_and_is_lifted_in_full_mode(tmp_path, monkeypatch):
    """A full-mode training cell may run for many minutes on a CPU: only quick mode has a cell limit."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError

    from edu_contrast import notebook_runner

    path = tmp_path / "slow.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(3)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    with pytest.raises(CellTimeoutError):
        notebook_runner.execute_notebook(path, quick=True, timeout=1)
    timeouts = []

    def record(path, *, quick, timeout):
        timeouts.append(timeout)
        return nb, 0.0

    monkeypatch.setattr(notebook_runner, "execute_notebook", record)
    assert notebook_runner.main(["--full", str(path)]) == 0
    assert notebook_runner.main([str(path)]) == 0
    assert notebook_runner.main(["--full", "--cell-timeout", "5", str(path)]) == 0
    assert timeouts == [None, 600, 5]
