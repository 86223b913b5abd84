"""Execute the course notebooks top to bottom, as the tests and `make html` do.

    python -m edu_contrast.notebook_runner notebooks/*.ipynb            # quick mode, report times
    python -m edu_contrast.notebook_runner --html build/html notebooks/*.ipynb
    python -m edu_contrast.notebook_runner --full notebooks/05_feature_suppression.ipynb  # no cell limit

Instructors can run a modified notebook the same way to check it still passes its check cells.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from edu_contrast._validation import fail


def execute_notebook(path: str | Path, *, quick: bool = True, timeout: int | None = 600):
    """Run every cell of the notebook at ``path`` in a fresh kernel; return (notebook, seconds).

    ``quick`` sets ``EDU_CONTRAST_QUICK=1`` for the kernel, the mode the test suite uses. ``timeout`` is
    the limit per cell in seconds (None: no limit). A failing cell raises
    ``nbclient.exceptions.CellExecutionError`` with the cell's source and traceback.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        fail("path", "execute_notebook", "an existing notebook file", path, FileNotFoundError)
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.get("EDU_CONTRAST_QUICK")
    os.environ["EDU_CONTRAST_QUICK"] = "1" if quick else "0"
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        if env_before is None:
            os.environ.pop("EDU_CONTRAST_QUICK", None)
        else:
            os.environ["EDU_CONTRAST_QUICK"] = env_before
    return nb, seconds


def render_html(nb, out_path: str | Path) -> Path:
    """Write an executed notebook as a standalone HTML page (widgets keep their saved state)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(body, encoding="utf-8")
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--html", type=Path, default=None, help="folder for rendered HTML pages")
    parser.add_argument("--full", action="store_true", help="full mode instead of quick mode")
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds a cell may run (default: 600 in quick mode, no limit in full mode, whose training "
        "cells take longer on a CPU)",
    )
    args = parser.parse_args(argv)
    timeout = args.cell_timeout if args.cell_timeout is not None else (None if args.full else 600)
    for path in sorted(args.notebooks):
        nb, seconds = execute_notebook(path, quick=not args.full, timeout=timeout)
        line = f"{path.name}: {seconds:.1f} s"
        if args.html is not None:
            line += f" -> {render_html(nb, args.html / (path.stem + '.html'))}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
