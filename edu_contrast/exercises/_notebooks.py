"""The cell convention of exercises, and the solution notebooks ``make solutions`` writes.

A stub cell is a code cell whose first line is ``# Exercise: NAME`` (NAME a registered exercise) and
which defines the function NAME with a body that raises ``NotImplementedError("one-line hint")``. The
cell after it checks the student's function and picks what the notebook goes on with:

    # Exercise: quantize_uint8 — replace the `raise` line with your code, then run the next cell.
    def quantize_uint8(t, scale, zero_point):
        raise NotImplementedError("q = clip(round(t / s) + z, 0, 255) as uint8")

    quantize_uint8 = exercises.check_quantize_uint8(quantize_uint8, fallback=True)

``solution_notebook`` replaces each stub cell by ``# Solution: NAME`` and the reference's source
(``solution_source``); everything else stays. Notebooks are read and written as JSON (``indent=1``,
the layout Jupyter writes), so no Jupyter package is needed.

    python -m edu_contrast.exercises._make_solutions --out build/solutions notebooks/*.ipynb  # make solutions
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from edu_contrast._validation import fail
from edu_contrast.exercises._registry import EXERCISES, reference_name, solution_source

__all__ = ["MARKER", "exercise_cells", "solution_notebook", "write_solutions", "read_notebook"]

MARKER = re.compile(r"^# Exercise: (\w+)")


def read_notebook(path: str | Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_notebook(notebook: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def exercise_cells(notebook: dict) -> list[tuple[int, str]]:
    """``(cell index, exercise name)`` of every stub cell, in order; an unknown name is an error."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        match = MARKER.match(source_of(cell)) if cell["cell_type"] == "code" else None
        if match is None:
            continue
        if match[1] not in EXERCISES:
            known = ", ".join(sorted(EXERCISES))
            fail(
                "notebook",
                "exercise_cells",
                f"to mark registered exercises ({known})",
                f"cell {index}: {match[0]!r}",
            )
        found.append((index, match[1]))
    return found


def solution_cell(name: str) -> str:
    header = f"# Solution: {name} (the package's {reference_name(EXERCISES[name])})\n"
    return header + solution_source(name).rstrip("\n")


def solution_notebook(notebook: dict) -> dict:
    """A copy of ``notebook`` with every stub cell replaced by its solution (outputs left empty)."""
    solved = copy.deepcopy(notebook)
    for index, name in exercise_cells(notebook):
        cell = solved["cells"][index]
        cell["source"] = solution_cell(name).splitlines(keepends=True)
        cell["outputs"], cell["execution_count"] = [], None
    return solved


def write_solutions(paths, out_dir: str | Path) -> list[tuple[Path, int]]:
    """Write each notebook of ``paths`` with its stubs solved into ``out_dir``: ``[(path, stubs), ...]``."""
    written = []
    for path in map(Path, paths):
        if not path.is_file():
            fail("paths", "write_solutions", "existing notebook files", str(path), FileNotFoundError)
        notebook = read_notebook(path)
        count = len(exercise_cells(notebook))
        written.append((write_notebook(solution_notebook(notebook), Path(out_dir) / path.name), count))
    return written
