"""Every notebook: well-formed as committed, and runs top to bottom in quick mode with its checks passing."""

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest

from edu_contrast import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_links_spec = importlib.util.spec_from_file_location("colab_links", ROOT / "tools" / "colab_links.py")
colab_links = importlib.util.module_from_spec(_links_spec)
_links_spec.loader.exec_module(colab_links)
BADGE = colab_links.colab_url(*colab_links.settings(), "{name}")  # pinned to the release (make colab-links)


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
    _, version = colab_links.settings()
    assert setup == colab_links.rewrite_setup(setup, version), "setup cell: run make colab-links"
    assert 'MODE = "auto"  # @param' in setup and 'BUDGET_MINUTES = 30  # @param {type:"integer"}' in setup
    assert f'setup = notebook_setup(MODE, budget_minutes=BUDGET_MINUTES, notebook="{path.stem}")' in setup


def _readme_times() -> dict:
    """README's curriculum table: notebook number → (quick, lab, full) cells."""
    rows = [line.split(" | ") for line in (ROOT / "README.md").read_text().splitlines()]
    return {r[0][2:]: tuple(r[3:6]) for r in rows if re.fullmatch(r"\| \d\d", r[0])}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_gives_the_run_times_its_header_gives(path):
    """The curriculum table copies each header's measured quick, lab and full times (or "not measured")."""
    intro = "".join(_cells(path)[0]["source"])
    quick, lab, full = _readme_times()[path.name[:2]]
    for mode, time in (("quick", quick), ("lab", lab), ("full", full)):
        assert re.search(rf"(?<![\w.–]){re.escape(time)}(?![\w–])", intro), f"{mode}: {time!r} in the header"


def _stem(path: Path) -> str:
    return path.stem.split("_", 1)[1]


def _module_alias(code: str, folder: str, stem: str) -> str | None:
    """The name a notebook binds ``edu_contrast.<folder>.<stem>`` to, or None when it never imports it."""
    pattern = (
        rf"^from edu_contrast\.{folder} import {stem}(?: as (\w+))?$"
        rf"|^import edu_contrast\.{folder}\.{stem} as (\w+)$"
    )
    match = re.search(pattern, code, re.MULTILINE)
    return None if match is None else (match.group(1) or match.group(2) or stem)


def _defined(folder: str, stem: str) -> set[str]:
    tree = ast.parse((ROOT / "edu_contrast" / folder / f"{stem}.py").read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_uses_its_lesson_checks_its_exercises_and_shows_its_explorers(path):
    """Notebook NN_stem imports lessons.stem, calls a checker of exercises/stem.py and an explorer of
    widgets/stem.py, and asserts a comparison (the effect it teaches)."""
    code, stem = "\n".join(_code(path)), _stem(path)
    assert _module_alias(code, "lessons", stem), f"imports edu_contrast.lessons.{stem}"
    checkers = set(re.findall(r"exercises\.(check_\w+)\(", code))
    assert checkers, "an exercise checked by edu_contrast.exercises"
    assert checkers <= _defined("exercises", stem), f"checkers not in exercises/{stem}.py: {checkers}"
    widgets = _module_alias(code, "widgets", stem)
    assert widgets, f"imports edu_contrast.widgets.{stem}"
    explorers = set(re.findall(rf"\b{widgets}\.(\w+_explorer)\(", code))
    assert explorers and explorers <= _defined("widgets", stem), f"calls an explorer of widgets/{stem}.py"
    nodes = [n for c in _code(path) for n in ast.walk(_parse(c))]
    asserts = [n.test for n in nodes if isinstance(n, ast.Assert)]
    compares = [test for test in asserts if isinstance(test, (ast.Compare, ast.BoolOp))]
    # lesson.check_effect(effects, name, margin=m) asserts effects[name] > m with the check's own message
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    effect_checks = [n for n in calls if getattr(n.func, "attr", "") == "check_effect"]
    assert compares or effect_checks, "asserts a comparison (an assert, or lesson.check_effect)"


def _parse(cell: str) -> ast.AST:
    """A code cell as Python (IPython magics and shell lines blanked)."""
    lines = [
        re.sub(r"^(\s*)[%!].*", r"\1pass", line)  # keeps an `if` around `%pip install` a valid block
        for line in cell.splitlines()
    ]
    return ast.parse("\n".join(lines))


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_in_quick_mode(path, quick_runs):
    """Top to bottom in quick mode, every check cell passing (``quick_runs``: one run per session, shared
    with the course site's test)."""
    from edu_contrast.notebook_runner import printed_text

    run = quick_runs[path.name]
    assert run.error is None, run.error
    errors = [o for c in run.nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # As committed, every exercise is an untouched stub: its check cell says so and falls back to the
    # package's reference (tests/test_solutions.py runs the other way, with the solutions filled in).
    stubs = len(exercises.exercise_cells(json.loads(path.read_text())))
    printed = printed_text(run.nb)
    assert printed.count("not written yet") == stubs and printed.count("uses the package's") == stubs
    print(f"{path.name}: {run.seconds:.1f} s in quick mode")


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
        notebook_runner.execute_notebook(path, mode="quick", timeout=1)
    timeouts = []

    def record(path, *, mode, seed, timeout, **_):  # record, keep_going: --record-checks, not used here
        timeouts.append(timeout)
        return nb, 0.0

    monkeypatch.setattr(notebook_runner, "execute_notebook", record)
    assert notebook_runner.main(["--full", str(path)]) == 0
    assert notebook_runner.main([str(path)]) == 0
    assert notebook_runner.main(["--full", "--cell-timeout", "5", str(path)]) == 0
    assert notebook_runner.main([str(path), "--mode", "lab", "--seed", "0", "1"]) == 0
    assert timeouts == [None, 600, 5, None, None]


def _tiny_notebook(path, source: str):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
@pytest.mark.notebook
def test_two_jobs_run_every_notebook_and_seed_and_report_each_failure(tmp_path, capsys):
    """`--jobs 2` (make check-seeds): every (notebook, seed) runs in a worker with one BLAS thread; a
    failing notebook is reported by name and seed and does not stop the others; the exit status is 1."""
    from edu_contrast import notebook_runner

    good = _tiny_notebook(
        tmp_path / "a_good.ipynb", "import os\nprint('threads', os.environ['OMP_NUM_THREADS'])"
    )
    bad = _tiny_notebook(tmp_path / "b_bad.ipynb", "import os\nassert os.environ['EDU_CONTRAST_SEED'] != '1'")
    runs = list(notebook_runner.run_notebooks([good, bad], seeds=(0, 1), jobs=2))
    assert [(r.path.name, r.seed, r.error is None) for r in runs] == [
        ("a_good.ipynb", 0, True),
        ("a_good.ipynb", 1, True),
        ("b_bad.ipynb", 0, True),
        ("b_bad.ipynb", 1, False),
    ]
    assert "threads 1" in notebook_runner.printed_text(runs[0].nb)
    assert "AssertionError" in runs[3].error
    assert notebook_runner.main([str(good), str(bad), "--seed", "0", "1", "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    assert "b_bad.ipynb: FAILED (quick mode, seed 1)" in out and "1 run(s) failed" in out
    assert out.count("a_good.ipynb: ") == 2


def test_jobs_below_one_is_one_line_naming_the_flag(capsys):
    from edu_contrast import notebook_runner

    with pytest.raises(SystemExit) as exit_info:
        notebook_runner.main(["x.ipynb", "--jobs", "0"])
    assert exit_info.value.code == 2 and "argument --jobs: must be ≥ 1, got 0" in capsys.readouterr().err
