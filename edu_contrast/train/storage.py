r"""Files that survive a killed process, and checkpoints that prove they are intact.

Atomic writes. Each file is written to a temporary file beside it (``.checkpoint.pt.<random>.tmp``),
flushed to disk and renamed over the old one, so a kill at any moment leaves the old complete file or
the new one. A temporary file a killed process left behind is removed by the next write. Files are
created with the permissions of the umask (like any other program's files).

Checksums. A checkpoint stores

    checksum = sha256( for each entry, in a fixed order (sorted keys, list order):
                       its key path, and for a tensor its dtype, shape and raw bytes,
                       for anything else its repr )

over everything but the checksum itself, and ``load_checkpoint`` recomputes it: a checkpoint whose
bytes changed after it was written (a bad disk, a copy cut short, an edit) is reported as damaged,
not loaded. A file that exists but cannot be read is reported as unreadable, which is not damage.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import torch

from edu_contrast.train.errors import CorruptCheckpointError, UnreadableCheckpointError

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
CHECKPOINT_FORMAT = 2  # 2 adds the checksum; format 1 (no checksum) is still read
CHECKPOINT_KEYS = (  # what fit writes (and load_checkpoint requires)
    "format", "epoch", "model", "optimizer", "scheduler", "scaler", "rng", "history", "config",
    "linear_accuracy", "checksum",
)  # fmt: skip

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_KEYS",
    "checksum",
    "save_checkpoint",
    "load_checkpoint",
    "write_metrics",
    "interrupts_deferred",
]


# ----------------------------------------------------------------------------- atomic files


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


def _temporary(path: Path) -> tuple[int, Path]:
    """A new ``.NAME.<random>.tmp`` beside ``path``, opened for writing; mode 0666 minus the umask."""
    while True:
        tmp = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue


def _remove_stale(path: Path) -> None:
    """Delete the temporary files of ``path`` that a killed process left behind."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    os.replace is atomic, so ``path`` is always either the old complete file or the new one,
    whatever moment the process is killed at; a failed write removes its temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


@contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) until the block has finished, so files written together stay consistent.

    The interrupt is delivered right after the block. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


# ----------------------------------------------------------------------------- checksums


def _digest(h, key: str, value) -> None:
    """Feed ``value`` (nested dicts, lists, tensors, plain values) into the hash ``h``, in a fixed order."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())  # the raw bytes, (numel · itemsize,)
    elif isinstance(value, dict):
        for k in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _digest(h, f"{key}/{k!r}", value[k])
    elif isinstance(value, (list, tuple)):
        h.update(f"{key}:{type(value).__name__}[{len(value)}]\n".encode())
        for i, item in enumerate(value):
            _digest(h, f"{key}[{i}]", item)
    else:
        h.update(f"{key}={value!r}\n".encode())


def checksum(state: dict) -> str:
    """sha256 (hex) of every entry of ``state`` but ``"checksum"`` (module docstring)."""
    h = hashlib.sha256()
    _digest(h, "", {k: v for k, v in state.items() if k != "checksum"})
    return h.hexdigest()


# ----------------------------------------------------------------------------- checkpoints, metrics


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """``torch.save(state + {"checksum": checksum(state)}, path)``, atomically (module docstring)."""
    state = {**state, "checksum": checksum(state)}
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
    """Load a checkpoint written by ``fit`` (``torch.load(..., weights_only=True)``) and verify it.

    ``path`` is the file or the run directory holding ``checkpoint.pt``.

    Raises:
        FileNotFoundError: no file at ``path``.
        UnreadableCheckpointError: the file exists but cannot be read (permissions, I/O error).
        CorruptCheckpointError: the file is damaged: truncated or not a checkpoint, an entry missing
            (named), or bytes changed since it was written (its checksum), with what to do about it.
    """
    path = Path(path)
    try:
        if path.is_dir():
            path = path / CHECKPOINT_NAME
        if not path.exists():
            raise FileNotFoundError(
                f"No checkpoint at {path}. Train first: python -m edu_contrast train --out {path.parent}"
            )
        f = open(path, "rb")  # noqa: SIM115 (closed below; open errors are told apart from damage)
    except FileNotFoundError:
        raise
    except OSError as error:  # permissions of the file or of a folder above it, I/O errors
        raise UnreadableCheckpointError(
            f"The checkpoint {path} cannot be read ({error.strerror or error}); nothing says it is "
            f"damaged. Make it readable (ls -l {path}; chmod u+r) or run as the user who wrote it."
        ) from error
    with f:
        try:
            state = torch.load(f, map_location=map_location, weights_only=True)
        except Exception as error:  # zip reader, unpickler and EOF errors all mean the same thing here
            reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
            raise _damaged(path, f"it is truncated or corrupt and cannot be loaded ({reason})") from error
    _verify(state, path)
    return state


def _damaged(path: Path, what: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(
        f"The checkpoint {path} is damaged: {what}. Continue from a copy of it if you have one, or "
        f"start the run over with overwrite=True."
    )


def _verify(state, path: Path) -> None:
    """A dict of a known format with every entry fit writes, whose checksum matches its contents."""
    version = state.get("format") if isinstance(state, dict) else None
    if not isinstance(version, int):
        raise CorruptCheckpointError(
            f"The file {path} is not an edu_contrast training checkpoint (format {CHECKPOINT_FORMAT}). "
            f"Choose another output directory, or start over there with overwrite=True."
        )
    if version > CHECKPOINT_FORMAT:
        raise CorruptCheckpointError(
            f"The checkpoint {path} has format {version}, written by a newer edu_contrast; this one reads "
            f"formats up to {CHECKPOINT_FORMAT}. Upgrade: pip install --upgrade edu_contrast."
        )
    required = CHECKPOINT_KEYS if version >= 2 else CHECKPOINT_KEYS[:-1]  # format 1: no checksum
    missing = [key for key in required if key not in state]
    if missing:
        raise _damaged(path, f"it lacks {', '.join(repr(k) for k in missing)}")
    if version >= 2 and checksum(state) != state["checksum"]:
        raise _damaged(path, "its contents changed after it was written (the sha256 checksum differs)")
