r"""What ``out_dir`` means for a run, decided before anything is written.

A folder that holds a run (``checkpoint.pt``, or ``checkpoint.prev.pt`` set aside by ``overwrite``)
is never replaced silently:

    out_dir holds      no run                    a run
    (neither flag)     start                     RunExistsError: pass resume=True or overwrite=True
    resume=True        say so, start             continue it, if every setting but ``epochs`` agrees
    overwrite=True     start                     rename checkpoint.pt → checkpoint.prev.pt and
                                                 metrics.json → metrics.prev.json, start; delete them
                                                 once the new run has saved its first trained epoch

Resuming continues exactly the run in the checkpoint: ``config_differences`` between the checkpoint's
run config and this run's must be empty (``warmup_epochs=None`` and ``augment_config=None`` mean "the
checkpoint's"), and ``epochs`` may not fall below the checkpoint's epoch. Another ``epochs`` re-plans
the schedule (``checkpoint.restore``).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

from edu_contrast import augment, distributed
from edu_contrast._validation import fail
from edu_contrast.train.config import WHERE, FitConfig, config_differences
from edu_contrast.train.errors import ResumeMismatchError, RunExistsError
from edu_contrast.train.monitor import say
from edu_contrast.train.storage import CHECKPOINT_NAME, METRICS_NAME, load_checkpoint

PREVIOUS = {CHECKPOINT_NAME: "checkpoint.prev.pt", METRICS_NAME: "metrics.prev.json"}

__all__ = ["PREVIOUS", "open_run", "release_previous"]


def open_run(cfg: FitConfig, method, image_shape) -> tuple[FitConfig, dict | None]:
    """Claim ``cfg.out_dir`` for this run (module docstring): the config to train with, and the
    checkpoint to continue (None: a new run).

    Raises:
        RunExistsError: ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is set.
        ResumeMismatchError: ``resume=True`` with settings that differ from the checkpoint's.
        CorruptCheckpointError, UnreadableCheckpointError: the checkpoint to resume cannot be used.
        ValueError: ``out_dir`` is a file, or a folder that cannot be written.
    """
    out = cfg.out_dir
    if out is None:
        return cfg, None
    if out.exists() and not out.is_dir():
        fail("out_dir", WHERE, "a folder", f"{str(out)!r}, which is a file")
    checkpoint, previous = out / CHECKPOINT_NAME, out / PREVIOUS[CHECKPOINT_NAME]
    if cfg.resume and checkpoint.exists():
        saved = load_checkpoint(checkpoint)
        return continued(cfg, saved, method, image_shape), saved
    if checkpoint.exists() or previous.exists():
        if not cfg.overwrite:
            raise RunExistsError(_exists_message(out, checkpoint.exists(), previous.exists()))
    elif cfg.resume:
        say(distributed.rank() == 0, f"resume=True, but {out} holds no checkpoint: starting a new run.")
    _check_writable(out)
    if cfg.overwrite and distributed.rank() == 0:
        for name, kept in PREVIOUS.items():
            if (out / name).exists():
                os.replace(out / name, out / kept)
    return cfg, None


def continued(cfg: FitConfig, saved: dict, method, image_shape) -> FitConfig:
    """``cfg`` with the checkpoint's warm-up and augmentation where ``cfg`` leaves them at None, checked
    against the checkpoint (``ResumeMismatchError`` listing every difference)."""
    config, fill = saved["config"], {}
    if cfg.warmup_epochs is None and config.get("warmup_epochs") is not None:
        fill["warmup_epochs"] = config["warmup_epochs"]
    if cfg.augment_config is None and isinstance(config.get("augment"), dict):
        try:
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in config["augment"].items()}
            fill["augment_config"] = augment.AugmentConfig(**values)
        except (TypeError, ValueError):  # another version's fields: the difference is listed below
            pass
    cfg = dataclasses.replace(cfg, **fill)
    differences = config_differences(config, cfg.run_config(method, image_shape))
    if differences:
        listed = "; ".join(f"{key}={old!r} in the checkpoint, {new!r} now" for key, old, new in differences)
        raise ResumeMismatchError(
            f"Cannot resume the run in {cfg.out_dir}: it was trained with other settings ({listed}). "
            f"Resume with the checkpoint's settings, start over with overwrite=True, or choose another "
            f"out_dir.",
            differences,
        )
    epoch = int(saved["epoch"])
    if cfg.epochs < epoch:
        fail(
            "epochs",
            WHERE,
            f">= {epoch} to resume the run in {cfg.out_dir}, which is at epoch {epoch}",
            cfg.epochs,
            ResumeMismatchError,
        )
    return cfg


def release_previous(out_dir: Path) -> None:
    """Delete the run that ``overwrite`` set aside (the new run has a checkpoint of its own now)."""
    for kept in PREVIOUS.values():
        (out_dir / kept).unlink(missing_ok=True)


def _check_writable(out: Path) -> None:
    """Create ``out`` if needed and write (and delete) a file in it, or say why that is impossible."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        got = f"{str(out)!r} ({error.strerror or error})"
        fail("out_dir", WHERE, "a folder this program can write to", got)


def _exists_message(out: Path, has_checkpoint: bool, has_previous: bool) -> str:
    kept = PREVIOUS[CHECKPOINT_NAME]
    if not has_checkpoint:
        return (
            f"{out} holds {kept}, a run that overwrite=True set aside before the new run saved a checkpoint. "
            f"Rename it to {CHECKPOINT_NAME} and pass resume=True to continue it, or pass overwrite=True to "
            f"start over (which deletes it once the new run has saved its first epoch)."
        )
    also = (
        f" It also holds {kept}, the run an earlier overwrite=True replaced (rename it to {CHECKPOINT_NAME} "
        f"to get that run back)."
        if has_previous
        else ""
    )
    return (
        f"{out} already holds a training run ({CHECKPOINT_NAME}). Pass resume=True to continue it, or "
        f"overwrite=True to start over (the old run is kept as {kept} until the new run has saved its first "
        f"epoch), or choose another out_dir.{also}"
    )
