"""Execute the course notebooks top to bottom, as the tests and `make html` do.

    python -m edu_contrast.notebook_runner notebooks/*.ipynb            # quick mode, report times
    python -m edu_contrast.notebook_runner --html build/html notebooks/*.ipynb
    python -m edu_contrast.notebook_runner notebooks/*.ipynb --mode lab --seed 0 1 2  # make check-seeds
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
from edu_contrast.utils import MODE_ENV, MODES, QUICK_ENV, SEED_ENV


def execute_notebook(path: str | Path, *, mode: str = "quick", seed: int = 0, timeout: int | None = 600):
    """Run every cell of the notebook at ``path`` in a fresh kernel; return (notebook, seconds).

    ``mode`` (quick, lab or full) and ``seed`` reach the kernel as ``EDU_CONTRAST_MODE`` and
    ``EDU_CONTRAST_SEED`` (``utils.notebook_setup`` reads them); quick is the mode the test suite uses.
    ``timeout`` is the limit per cell in seconds (None: no limit). A failing cell raises
    ``nbclient.exceptions.CellExecutionError`` with the cell's source and traceback.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        fail("path", "execute_notebook", "an existing notebook file", path, FileNotFoundError)
    if mode not in MODES:
        fail("mode", "execute_notebook", 'one of "quick", "lab", "full"', repr(mode))
    nb = nbformat.read(path, as_version=4)
    env = {QUICK_ENV: "1" if mode == "quick" else "0", MODE_ENV: mode, SEED_ENV: str(seed)}
    env_before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        for name, value in env_before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return nb, seconds


def printed_text(nb) -> str:
    """Everything an executed notebook's code cells printed (stdout and stderr streams), in cell order."""
    text = [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    return "".join(t if isinstance(t, str) else "".join(t) for t in text)


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
    parser.add_argument("--mode", choices=MODES, default="quick", help="quick (default), lab or full")
    parser.add_argument("--full", action="store_true", help="the same as --mode full")
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[0], help="EDU_CONTRAST_SEED values, each a run (default 0)"
    )
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds a cell may run (default: 600 in quick mode, no limit in full mode, whose training "
        "cells take longer on a CPU)",
    )
    args = parser.parse_args(argv)
    mode = "full" if args.full else args.mode
    timeout = args.cell_timeout if args.cell_timeout is not None else (600 if mode == "quick" else None)
    for path in sorted(args.notebooks):
        for seed in args.seed:
            nb, seconds = execute_notebook(path, mode=mode, seed=seed, timeout=timeout)
            line = f"{path.name}: {seconds:.1f} s ({mode} mode, seed {seed})"
            if args.html is not None:
                name = path.stem + (f"-seed{seed}" if len(args.seed) > 1 else "")  # one page per run
                line += f" -> {render_html(nb, args.html / (name + '.html'))}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
