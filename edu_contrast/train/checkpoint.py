"""Checkpoints that survive a killed process, and an exact resume.

``out_dir/checkpoint.pt`` holds everything the next step depends on: the weights and buffers
(BatchNorm statistics, MoCo's queue), the optimiser's moments, the schedule's position, the
GradScaler, the history, and the state of every random number generator of every rank (the batch
order, the augmentations, NumPy's and Python's). Restoring all of it makes a resumed run draw
exactly the numbers the uninterrupted run would have drawn, so both end with equal parameters.

Each file is replaced atomically (write a temporary file, fsync, rename), so a kill at any moment
leaves either the previous complete checkpoint or the new one. ``metrics.json`` is the history as
strict JSON for plots and other programs.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from edu_contrast import distributed
from edu_contrast.train.config import config_mismatch
from edu_contrast.train.monitor import say

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
CHECKPOINT_FORMAT = 1
TRAINING_STATE = ("model", "optimizer", "scheduler", "scaler")  # the state_dicts a checkpoint holds

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CHECKPOINT_FORMAT",
    "CorruptCheckpointError",
    "ResumeMismatchError",
    "save_checkpoint",
    "load_checkpoint",
    "write_metrics",
    "save",
    "resume",
]


class CorruptCheckpointError(RuntimeError):
    """The checkpoint file cannot be read (truncated, corrupt, or not an edu_contrast checkpoint)."""


class ResumeMismatchError(ValueError):
    """``resume=True`` with settings that differ from the checkpoint's (method, batch size, seed, ...)."""


# ----------------------------------------------------------------------------- files


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); directories cannot be opened on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    os.replace is atomic, so ``path`` is always either the old complete file or the new one,
    whatever moment the process is killed at; a failed write removes its temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """``torch.save(state, path)`` atomically (see ``_atomic_write``)."""
    _atomic_write(Path(path), lambda f: torch.save(state, f))


def write_metrics(path: str | os.PathLike, history: list[dict], linear_accuracy: float | None) -> None:
    """``{"history": [...], "linear_accuracy": ...}`` as JSON, atomically; NaN becomes null (strict JSON)."""
    clean = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in h.items()}
        for h in history
    ]
    text = json.dumps({"history": clean, "linear_accuracy": linear_accuracy}, indent=2, allow_nan=False)
    _atomic_write(Path(path), lambda f: f.write(text.encode() + b"\n"))


def load_checkpoint(path: str | os.PathLike, *, map_location="cpu") -> dict:
    """Load a checkpoint written by ``fit`` with ``torch.load(..., weights_only=True)``.

    ``path`` is the file or the run directory holding ``checkpoint.pt``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptCheckpointError: the file is truncated or corrupt (for example the machine died
            while an old version without atomic writes was saving), with what to do about it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path}. Train first: python -m edu_contrast train --out {path.parent}"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # zip reader, unpickler and EOF errors all mean the same thing here
        raise CorruptCheckpointError(
            f"The checkpoint file {path} is corrupt or truncated and cannot be loaded "
            f"({type(error).__name__}: {(str(error).splitlines() or [''])[0]}). Delete it to start "
            f"training from scratch, or run without --resume (resume=False) to overwrite it."
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise CorruptCheckpointError(
            f"The file {path} is not an edu_contrast training checkpoint (format {CHECKPOINT_FORMAT}). "
            f"Delete it or choose another output directory."
        )
    return state


# ----------------------------------------------------------------------------- RNG states as tensors


def rng_state(data_generator: torch.Generator) -> dict:
    """Every random number generator the run uses, as tensors and plain values (``weights_only``-safe)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the legacy global RNG is the state)
    version, py_state, gauss_next = random.getstate()
    cuda = (
        [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "data": data_generator.get_state(),
    }


def set_rng_state(state: dict, data_generator: torch.Generator) -> None:
    """Put back what ``rng_state`` saved."""
    torch.set_rng_state(state["torch"])
    for i, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(cuda_state, i)
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    data_generator.set_state(state["data"])


# ----------------------------------------------------------------------------- a run's checkpoint


def _modules(run) -> dict:
    """The objects behind ``TRAINING_STATE``, each with ``state_dict`` / ``load_state_dict``."""
    return dict(zip(TRAINING_STATE, (run.method, run.optimizer, run.scheduler, run.scaler)))


def save(run, epoch: int, linear_accuracy: float | None = None) -> None:
    """Rank 0 writes ``run``'s checkpoint after ``epoch`` and metrics.json (nothing without ``out_dir``).

    Every rank takes part: the random generators of all ranks are gathered into the checkpoint.
    """
    rng = distributed.gather_objects(rng_state(run.data_generator))
    out_dir = run.cfg.out_dir
    if run.rank != 0 or out_dir is None:
        return
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        **{key: module.state_dict() for key, module in _modules(run).items()},
        "rng": rng,
        "history": run.history,
        "config": run.run_config,
        "linear_accuracy": linear_accuracy,
    }
    save_checkpoint(state, out_dir / CHECKPOINT_NAME)
    write_metrics(out_dir / METRICS_NAME, run.history, linear_accuracy)


def resume(run) -> None:
    """Continue ``run`` from ``out_dir/checkpoint.pt`` when it exists: state, RNGs, history, epoch.

    Raises:
        ResumeMismatchError: the checkpoint was written by a run with other settings.
        CorruptCheckpointError: the file cannot be read.
    """
    path = run.cfg.out_dir / CHECKPOINT_NAME
    if not path.is_file():
        return
    state = load_checkpoint(path, map_location=run.device)
    mismatch = config_mismatch(state["config"], run.run_config)
    if mismatch:
        raise ResumeMismatchError(
            f"Cannot resume from {path}: the run differs ({mismatch}). Use the same "
            f"settings, another --out directory, or drop --resume to start over."
        )
    for key, module in _modules(run).items():
        module.load_state_dict(state[key])
    set_rng_state(state["rng"][run.rank], run.data_generator)
    run.history, run.start_epoch = list(state["history"]), int(state["epoch"])
    say(run.show, f"Resuming from {path} after epoch {run.start_epoch}.")
