"""A run's checkpoint: everything the next step depends on, and an exact resume.

``out_dir/checkpoint.pt`` holds the weights and buffers (BatchNorm statistics, MoCo's queue), the
optimiser's moments, the schedule's position, the GradScaler, the history, the run config (what was
actually trained) and the state of every random number generator of every rank (the batch order, the
augmentations, NumPy's and Python's). Restoring all of it makes a resumed run draw exactly the numbers
the uninterrupted run would have drawn, so both end with equal parameters.

Extending (or shortening) a resumed run. With another ``epochs`` E′ than the checkpoint's E, the
learning-rate schedule is re-planned: from the current step s₀ on, lr_s = lr · f(s; S′, W) with
S′ = E′ · steps per epoch, the warm-up + cosine plan an E′-epoch run has from its start (``warmup_cosine``;
W unchanged). Steps already taken are not redone; a finished run (lr ≈ 0) extended to E′ = 2E goes on
at half the peak rate, as a run planned for 2E epochs would be at its middle. The momentum schedules
of MoCo and BYOL follow the same S′. The checkpoint's config then records ``epochs = E′`` and, in
``replanned``, each re-planning (after which epoch, from which E to which E′). With the same ``epochs``
nothing is re-planned, and the resumed run is bit-exact.

Files are written by ``storage`` (atomic, checksummed); Ctrl-C during a save is held until both
files are complete.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from edu_contrast import distributed
from edu_contrast.train.monitor import say
from edu_contrast.train.run_folder import release_previous
from edu_contrast.train.storage import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    METRICS_NAME,
    interrupts_deferred,
    save_checkpoint,
    write_metrics,
)

TRAINING_STATE = ("model", "optimizer", "scheduler", "scaler")  # the state_dicts a checkpoint holds

__all__ = ["rng_state", "set_rng_state", "save", "restore"]


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


# ----------------------------------------------------------------------------- save and restore


def _modules(run) -> dict:
    """The objects behind ``TRAINING_STATE``, each with ``state_dict`` / ``load_state_dict``."""
    return dict(zip(TRAINING_STATE, (run.method, run.optimizer, run.scheduler, run.scaler)))


def save(run, epoch: int, linear_accuracy: float | None = None) -> None:
    """Rank 0 writes ``run``'s checkpoint after ``epoch`` and metrics.json (nothing without ``out_dir``).

    Every rank takes part: the random generators of all ranks are gathered into the checkpoint. The old
    run that ``overwrite`` set aside as ``checkpoint.prev.pt`` is deleted once the new run (or, after an
    interruption, its ``resume``) has saved a trained epoch or its final result.
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
    with interrupts_deferred():  # Ctrl-C waits until the checkpoint and metrics.json agree
        save_checkpoint(state, out_dir / CHECKPOINT_NAME)
        write_metrics(out_dir / METRICS_NAME, run.history, linear_accuracy)
        if (run.cfg.overwrite or run.cfg.resume) and (epoch >= 1 or linear_accuracy is not None):
            release_previous(out_dir)  # the new run (or its continuation) has a trained epoch of its own


def restore(run, state: dict) -> None:
    """Continue ``run`` from a checkpoint ``state`` (checked by ``run_folder.open_run``): state_dicts,
    RNGs, history, epoch; re-plan the schedule when ``epochs`` changed (module docstring)."""
    for key, module in _modules(run).items():
        module.load_state_dict(state[key])
    set_rng_state(state["rng"][run.rank], run.data_generator)
    run.history, run.start_epoch = list(state["history"]), int(state["epoch"])
    planned, wanted = int(state["config"]["epochs"]), run.cfg.epochs
    replanned = list(state["config"].get("replanned", []))
    where = f"Resuming {run.cfg.out_dir / CHECKPOINT_NAME} after epoch {run.start_epoch} of {planned}"
    if wanted != planned:
        before = run.optimizer.param_groups[0]["lr"]
        step = run.scheduler.last_epoch
        lrs = [base * f(step) for base, f in zip(run.scheduler.base_lrs, run.scheduler.lr_lambdas)]
        for group, lr in zip(run.optimizer.param_groups, lrs):
            group["lr"] = lr
        run.scheduler._last_lr = lrs  # what get_last_lr() reports until the next step
        replanned.append({"after_epoch": run.start_epoch, "from_epochs": planned, "to_epochs": wanted})
        where += (
            f", {'extended' if wanted > planned else 'shortened'} to {wanted} epochs: the learning-rate "
            f"schedule was re-planned as warm-up + cosine over {wanted} epochs; the learning rate goes on "
            f"at {lrs[0]:.3g} (the {planned}-epoch plan: {before:.3g})"
        )
    if run.start_epoch >= wanted:
        where += ": the run is complete, only the final linear probe runs again"
    if replanned:
        run.run_config["replanned"] = replanned
    say(run.rank == 0, where + ".")
