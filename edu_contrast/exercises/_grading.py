"""Grade a folder of submitted notebooks with the checkers: ``python -m edu_contrast grade DIR``.

The grader does not execute a whole notebook (minutes of training each, and one broken cell would stop
the rest). It extracts what the exercise functions can depend on — every top-level ``import``, ``def``,
``class`` and constant (``NAME = literal``) of every code cell, in order — runs those in a child
process (one per notebook, killed after ``timeout`` seconds: an endless loop costs one student, not the
class), and runs each stub cell's function through its checker. So an exercise function may use any
import, helper function or constant of the notebook, but not a variable computed by other cells.
"""

from __future__ import annotations

import ast
import contextlib
import io
import multiprocessing
import re
from pathlib import Path

from edu_contrast.exercises._notebooks import exercise_cells, read_notebook, source_of
from edu_contrast.exercises._registry import EXERCISES, verdict

__all__ = ["grade_notebook", "grade_folder", "grading_table"]

KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)


def _python(source: str) -> str:
    """A cell as Python: IPython magics and shell lines (``%pip``, ``!ls``) become ``pass``."""
    return "\n".join(re.sub(r"^(\s*)[%!].*", r"\1pass", line) for line in source.splitlines())


def _is_constant(node: ast.stmt) -> bool:
    if not (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)):
        return False
    try:
        ast.literal_eval(node.value)
    except ValueError:
        return False
    return True


def _namespace(notebook: dict) -> tuple[dict, dict[int, str]]:
    """Run the kept statements of every code cell; return the namespace and ``{cell: syntax error}``."""
    namespace, broken = {"__name__": "__submission__"}, {}
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse(_python(source_of(cell)))
        except SyntaxError as error:
            broken[index] = f"line {error.lineno}: {error.msg}"
            continue
        for node in tree.body:
            if isinstance(node, KEPT) or _is_constant(node):
                with contextlib.suppress(Exception):  # e.g. `import google.colab` outside Colab
                    exec(compile(ast.Module([node], []), f"<cell {index}>", "exec"), namespace)  # noqa: S102
    return namespace, broken


def grade_in_process(path: str | Path) -> list[dict]:
    """The rows of one notebook, computed here (``grade_notebook`` runs this in a child process)."""
    notebook = read_notebook(path)
    cells = exercise_cells(notebook)
    if not cells:
        return [_failure("no exercise cell (# Exercise: NAME) found")]
    namespace, broken = _namespace(notebook)
    rows = []
    for index, name in cells:
        if index in broken:
            rows.append(
                {"exercise": name, "passed": False, "message": f"SyntaxError in the cell, {broken[index]}"}
            )
            continue
        with contextlib.redirect_stdout(io.StringIO()):  # the checker's and the student's prints
            result = verdict(EXERCISES[name], namespace.get(name))
        rows.append({"exercise": name, "passed": result.passed, "message": result.message})
    return rows


def _child(path: str, connection) -> None:
    try:
        connection.send(grade_in_process(path))
    except Exception as error:  # a notebook the grader cannot read: reported, the class goes on
        connection.send([_failure(f"could not be graded: {type(error).__name__}: {error}")])
    finally:
        connection.close()


def _failure(message: str) -> dict:
    return {"exercise": "-", "passed": False, "message": message}


def grade_notebook(path: str | Path, *, timeout: float = 120) -> list[dict]:
    """``[{"exercise", "passed", "message"}, ...]`` for one submitted notebook, graded in a child process.

    The child is forked where the system can (Linux), so it starts with the package already imported
    (milliseconds, not the seconds an import of torch takes); elsewhere it is spawned.
    """
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(str(path), send), daemon=True)
    process.start()
    send.close()  # the child holds the only sending end: a crash shows as end-of-file
    try:
        if not receive.poll(timeout):
            process.kill()
            return [_failure(f"grading took over {timeout:g} s (endless loop?)")]
        return receive.recv()
    except EOFError:
        process.join()
        return [_failure(f"could not be graded: the grading process stopped (exit code {process.exitcode})")]
    finally:
        process.join()
        receive.close()


def grade_folder(folder: str | Path, *, timeout: float = 120) -> list[dict]:
    """Every ``*.ipynb`` of ``folder`` (not its subfolders), by file name: rows with a ``student`` key."""
    rows = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        rows += [{"student": path.stem, **row} for row in grade_notebook(path, timeout=timeout)]
    return rows


def grading_table(rows: list[dict]) -> str:
    """A plain-text table: student, exercise, pass/fail, the checker's message; a count at the end."""
    header = ("student", "exercise", "result", "message")
    cells = [(r["student"], r["exercise"], "pass" if r["passed"] else "FAIL", r["message"]) for r in rows]
    widths = [max(len(str(c[i])) for c in [header, *cells]) for i in range(3)]
    lines = ["  ".join(f"{c[i]:<{widths[i]}}" for i in range(3)) + "  " + c[3] for c in [header, *cells]]
    passed = sum(r["passed"] for r in rows)
    return "\n".join(lines) + f"\n{passed} of {len(rows)} passed"
