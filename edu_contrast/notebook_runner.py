"""Execute the course notebooks top to bottom, as the tests and `make html` do.

    python -m edu_contrast.notebook_runner notebooks/*.ipynb            # quick mode, report times
    python -m edu_contrast.notebook_runner --html build/html notebooks/*.ipynb
    python -m edu_contrast.notebook_runner notebooks/*.ipynb --mode lab --seed 0 1 2 --jobs 2  # check-seeds
    python -m edu_contrast.notebook_runner --full notebooks/05_feature_suppression.ipynb  # no cell limit
    python -m edu_contrast.notebook_runner notebooks/02_temperature.ipynb --seed 0 1 2 --record-checks c.jsonl

Instructors can run a modified notebook the same way to check it still passes its check cells;
``--record-checks`` appends by how much each check passed (its slack, one JSON line per check reached) to a
file, which is how docs/check_margins.md's margins are measured (benchmarks/sweep_checks.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

from edu_contrast._check_record import instrument
from edu_contrast._validation import fail
from edu_contrast.utils import MODE_ENV, MODES, QUICK_ENV, SEED_ENV


def execute_notebook(
    path: str | Path,
    *,
    mode: str = "quick",
    seed: int = 0,
    timeout: int | None = 600,
    record=None,
    keep_going: bool = False,
):
    """Run every cell of the notebook at ``path`` in a fresh kernel; return (notebook, seconds).

    ``mode`` (quick, lab or full) and ``seed`` reach the kernel as ``EDU_CONTRAST_MODE`` and
    ``EDU_CONTRAST_SEED`` (``utils.notebook_setup`` reads them); quick is the mode the test suite uses.
    ``timeout`` is the limit per cell in seconds (None: no limit). A failing cell raises
    ``nbclient.exceptions.CellExecutionError`` with the cell's source and traceback. ``record``: a file
    that each check cell appends its slack to (``_check_record``); the returned notebook is then the
    instrumented copy; with ``keep_going`` a failing check is recorded and the notebook goes on.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file():
        fail("path", "execute_notebook", "an existing notebook file", path, FileNotFoundError)
    if mode not in MODES:
        fail("mode", "execute_notebook", 'one of "quick", "lab", "full"', repr(mode))
    nb = nbformat.read(path, as_version=4)
    if record is not None:
        fields = {"notebook": path.name, "mode": mode, "seed": seed}
        nb = instrument(nb, str(Path(record).resolve()), fields, keep_going=keep_going)
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


class NotebookRun(NamedTuple):
    """One executed (notebook, seed): the executed notebook and its seconds, or ``error`` (None if it ran)."""

    path: Path
    seed: int
    nb: object
    seconds: float
    error: str | None


# One BLAS/OpenMP thread for a kernel that shares the cores (also the browser tests' JupyterLab).
ONE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _one_thread() -> None:
    """A worker of ``run_notebooks`` (and so its kernels) gets one BLAS/OpenMP thread: notebooks that run
    side by side would otherwise each spin two threads on the same cores."""
    os.environ.update(ONE_THREAD_ENV)


def _run_one(
    path: Path, mode: str, seed: int, timeout: int | None, record=None, keep_going=False
) -> NotebookRun:
    """``execute_notebook`` with its failure caught (the failing cell's source and traceback, shortened)."""
    try:
        nb, seconds = execute_notebook(
            path, mode=mode, seed=seed, timeout=timeout, record=record, keep_going=keep_going
        )
    except Exception as error:  # nbclient's CellExecutionError / CellTimeoutError, a dead kernel
        return NotebookRun(path, seed, None, 0.0, f"{type(error).__name__}: {str(error)[-3000:]}")
    return NotebookRun(path, seed, nb, seconds, None)


def run_notebooks(
    paths,
    *,
    mode: str = "quick",
    seeds=(0,),
    timeout: int | None = 600,
    jobs: int = 1,
    record=None,
    keep_going: bool = False,
):
    """Yield a ``NotebookRun`` for every (notebook, seed), in that order, each as soon as it is done.

    ``jobs`` > 1 runs that many at a time in worker processes with one BLAS thread each (2 on 2 cores
    halves the wall time of `make check-seeds` and `make book`). A failing notebook does not stop the
    others: its run carries the error. The workers are spawned, so a script that calls this with
    ``jobs`` > 1 needs the ``if __name__ == "__main__":`` guard around it. ``record``: as in
    ``execute_notebook`` (every run appends to the same file), and ``keep_going``.
    """
    runs = [(Path(path), seed) for path in paths for seed in seeds]
    if jobs == 1:
        yield from (_run_one(path, mode, seed, timeout, record, keep_going) for path, seed in runs)
        return
    spawn = multiprocessing.get_context("spawn")  # not fork: the caller (a test run) may hold torch threads
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, initializer=_one_thread) as pool:
        futures = [
            pool.submit(_run_one, path, mode, seed, timeout, record, keep_going) for path, seed in runs
        ]
        yield from (future.result() for future in futures)


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


def save_executed(nb, out_path: str | Path) -> Path:
    """Write an executed notebook with its outputs (with ``--record-checks``: the instrumented copy, whose
    first cell is the recorder, so its cell numbers are one more than the committed notebook's)."""
    import nbformat

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_path)
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
    parser.add_argument(
        "--jobs", type=int, default=1, help="notebooks run at a time, one BLAS thread each (default 1)"
    )
    parser.add_argument(
        "--record-checks",
        type=Path,
        default=None,
        metavar="FILE",
        help="append by how much each check cell passed (one JSON line per check) to FILE, and save each "
        "executed notebook in the folder FILE names without its suffix",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="with --record-checks: a failing check is recorded and the notebook goes on",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"argument --jobs: must be ≥ 1, got {args.jobs}")
    mode = "full" if args.full else args.mode
    timeout = args.cell_timeout if args.cell_timeout is not None else (600 if mode == "quick" else None)
    failed = []
    for run in run_notebooks(
        sorted(args.notebooks),
        mode=mode,
        seeds=args.seed,
        timeout=timeout,
        jobs=args.jobs,
        record=args.record_checks,
        keep_going=args.keep_going,
    ):
        if run.error is not None:
            failed.append(f"{run.path.name} ({mode} mode, seed {run.seed})")
            print(f"{run.path.name}: FAILED ({mode} mode, seed {run.seed})\n{run.error}", flush=True)
            continue
        line = f"{run.path.name}: {run.seconds:.1f} s ({mode} mode, seed {run.seed})"
        if args.record_checks is not None:  # what each run printed, beside its check records
            saved = args.record_checks.with_suffix("") / f"{run.path.stem}-{mode}-seed{run.seed}.ipynb"
            line += f" -> {save_executed(run.nb, saved)}"
        if args.html is not None:
            name = run.path.stem + (f"-seed{run.seed}" if len(args.seed) > 1 else "")  # one page per run
            line += f" -> {render_html(run.nb, args.html / (name + '.html'))}"
        print(line, flush=True)
    if failed:
        print(f"{len(failed)} run(s) failed: " + ", ".join(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
