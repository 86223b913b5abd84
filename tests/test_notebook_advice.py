"""Every call a notebook's text tells a student to run runs as written, in that notebook's namespace.

A call is "advice" when a markdown cell shows it in backticks with only literal arguments, e.g.
`exercises.hint("alignment")` or `lesson.weight_temperature_grid([1.0], [0.2, 0.5, 1.0])`; a backticked
import (`from edu_contrast.exercises import hint`) is advice too. Signatures such as `alignment(z1, z2)` or
`methods.MoCo(..., symmetric=False)` describe a function and are not run. The follow-up a hint prints
("Still stuck? exercises.show_solution('alignment')") is advice as well and runs in the same namespace.

The namespace is the notebook's own, built cheaply: every import statement of its code cells and the setup
cell's ``setup`` in quick mode. No cell that installs, trains or loads data runs here.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BACKTICKED = re.compile(r"`([^`\n]+)`")
PRINTED_CALL = re.compile(
    r"(?<![\w.])(?:[A-Za-z_]\w*\.)?(?:hint|show_solution)\([^()\n]*\)"
)  # hint's follow-up


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _is_literal(node: ast.AST) -> bool:
    """A literal a student can type as is: numbers, strings, lists/tuples/dicts of them; not `...`."""
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return False
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return not any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(node))


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def runnable(snippet: str) -> bool:
    """True for a call with literal arguments on a (dotted) name, or an import statement."""
    try:
        tree = ast.parse(snippet.strip())
    except SyntaxError:
        return False
    if len(tree.body) != 1:
        return False
    statement = tree.body[0]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return True
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return False
    call = statement.value
    arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
    return _root_name(call.func) is not None and all(_is_literal(argument) for argument in arguments)


def advice(path: Path) -> list[tuple[int, str]]:
    """(cell index, snippet) of every runnable snippet in the notebook's markdown, in reading order."""
    found = []
    for index, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "markdown":
            found += [(index, s) for s in BACKTICKED.findall("".join(cell["source"])) if runnable(s)]
    return found


def namespace(path: Path) -> dict:
    """The notebook's namespace: every import statement of its code cells, and the setup cell's ``setup``
    in quick mode. The rest of the setup cell (installing the package) and every other cell do not run."""
    from edu_contrast.utils import notebook_setup

    transform = TransformerManager().transform_cell
    names = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in _cells(path):
            if cell["cell_type"] == "code":
                tree = ast.parse(transform("".join(cell["source"])))
                imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
                exec(compile(ast.Module(body=imports, type_ignores=[]), path.name, "exec"), names)
        names["setup"] = notebook_setup("quick")
    return names


def run_advice(snippet: str, names: dict, *, where: str) -> str:
    """Run one snippet in ``names``; return what it printed. Fails the test, naming the cell, on an error."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(snippet.strip(), where, "exec"), names)
    except Exception as error:  # noqa: BLE001 - any error is a broken piece of advice
        pytest.fail(f"{where}: the text tells students to run `{snippet}`, which raises {error!r}")
    return printed.getvalue()


NOT_YET_FIXED: dict[str, str] = {}  # notebook name → why its advice does not run yet (an xfail, strict)


def _param(path: Path):
    reason = NOT_YET_FIXED.get(path.name)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(path, id=path.name, marks=marks)


@pytest.mark.parametrize("path", [_param(p) for p in NOTEBOOKS])
def test_every_call_the_text_advises_runs(path, monkeypatch):
    monkeypatch.setenv("EDU_CONTRAST_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    names = namespace(path)
    for index, snippet in advice(path):
        where = f"{path.name} [{index}]"
        printed = run_advice(snippet, names, where=where)
        for follow_up in filter(runnable, PRINTED_CALL.findall(printed)):
            run_advice(follow_up, names, where=f"{where}, printed by `{snippet}`")


def test_the_extraction_tells_advice_from_signatures():
    assert runnable('exercises.hint("alignment")')
    assert runnable("lesson.weight_temperature_grid([1.0], [0.2, 0.5, 1.0])")
    assert runnable("from edu_contrast.exercises import hint")
    assert not runnable("alignment(z1, z2, *, alpha=2)")
    assert not runnable("methods.MoCo(..., symmetric=False)")
    assert not runnable("(N, d)")
    assert not runnable("setup.pick(quick=…, lab=…)")


def test_a_broken_piece_of_advice_fails(tmp_path):
    """The test catches today's kind of mistake: the topic module has no hint()."""
    names = {}
    exec("from edu_contrast.exercises import augmentation as exercises", names)
    with pytest.raises(pytest.fail.Exception, match="AttributeError"):
        run_advice('exercises.hint("adjust_saturation")', names, where="example")
