r"""What ``fit`` records after each epoch, and what it prints.

History entry e, measured on rank 0 in eval mode and shared with the other ranks:

    history[e] = {"epoch": e, "loss": L̄_e, "seconds": …,
                  **measure.embedding_report(method, test images, aug=𝒜, seed=seed,
                                             labels=test labels, train=(train images, train labels),
                                             probes=("knn",))}

so its keys are ``epoch, loss, seconds, alignment, uniformity, erank_z, erank_h, positive_cosine,
knn_accuracy``, each defined once in ``measure`` (``notebooks/00_notation.md``). The train and test
images are fixed random subsets (``knn_train_size``, ``knn_test_size``) of the probe split, and the
views are drawn with the run's seed, so every epoch is measured on the same images and augmentations.
L̄_e is the mean training loss of epoch e; L̄_0, before any step, is the mean loss of the untrained
model on ``INITIAL_LOSS_BATCHES`` batches (``initial_loss``), with no update.

Epoch 0's embeddings come from a copy of the untrained model whose BatchNorm statistics are calibrated
on the watched training images (``measure.calibrate_batchnorm``): a fresh BatchNorm's running statistics
(mean 0, variance 1) would otherwise map every image to nearly one point in eval mode, an artefact that
looks like collapse. The trained model is left as it is.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from edu_contrast import distributed, measure
from edu_contrast.utils import autocast

INITIAL_LOSS_BATCHES = 4  # batches averaged for the epoch-0 loss

__all__ = [
    "ProbeSplit",
    "split_for_eval",
    "monitor_subset",
    "epoch_record",
    "initial_loss",
    "report",
    "say",
    "status",
]


class ProbeSplit(NamedTuple):
    """The probes' uint8 images: train ``(N, C, H, W)``, ``(N,)``; test ``(M, C, H, W)``, ``(M,)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def split_for_eval(data, eval_data, seed: int) -> ProbeSplit:
    """The probes' train and test images: ``data`` and ``eval_data``.

    Without ``eval_data`` a fixed 20% of the training images is held out as the probe's test set
    (self-supervised training used those images but never their labels).
    """
    if eval_data is not None:
        return ProbeSplit(data.images, data.labels, eval_data.images, eval_data.labels)
    order = torch.randperm(data.images.shape[0], generator=torch.Generator().manual_seed(seed))  # (N,)
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]
    return ProbeSplit(data.images[train], data.labels[train], data.images[test], data.labels[test])


def monitor_subset(split: ProbeSplit, train_size: int, test_size: int, seed: int) -> ProbeSplit:
    """Fixed random subsets of ``split`` (≤ ``train_size`` / ``test_size`` images) for the epoch record."""
    g = torch.Generator().manual_seed(seed + 2)
    tr = torch.randperm(split.train_images.shape[0], generator=g)[:train_size]
    te = torch.randperm(split.test_images.shape[0], generator=g)[:test_size]
    return ProbeSplit(
        split.train_images[tr], split.train_labels[tr], split.test_images[te], split.test_labels[te]
    )


def epoch_record(run, epoch: int, loss: float, start: float) -> dict:
    """``history[epoch]`` (module docstring); ``seconds`` counts from ``start``, the measuring included."""
    record = None
    if run.rank == 0:
        watch = run.monitor_split
        method = run.method
        if epoch == 0:  # the untrained baseline, without the fresh-BatchNorm artefact
            method = copy.deepcopy(run.method)
            measure.calibrate_batchnorm(method, watch.train_images, device=run.device)
        report = measure.embedding_report(
            method,
            watch.test_images,
            aug=run.aug,
            seed=run.cfg.seed,
            labels=watch.test_labels,
            train=(watch.train_images, watch.train_labels),
            probes=("knn",),
            knn_k=run.cfg.knn_k,
            amp_dtype=run.amp_dtype,
        )
        record = {"epoch": epoch, "loss": loss, "seconds": time.perf_counter() - start, **report}
    return distributed.broadcast_object(record)


def initial_loss(run) -> float:
    """L̄_0: the training loss of the untrained model on a few fixed batches, without changing any state.

    In train mode (the loss a step would see) under no_grad; BatchNorm statistics, MoCo's queue
    and every random number generator are restored afterwards, so the run is unaffected.
    """
    size = run.cfg.batch_size
    order = torch.randperm(run.images_per_epoch, generator=torch.Generator().manual_seed(run.cfg.seed + 1))
    cuda = [run.device.index or 0] if run.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        n = min(INITIAL_LOSS_BATCHES, run.steps_per_epoch)
        batches = [run.batch(order[s * size : (s + 1) * size]) for s in range(n)]
    saved = copy.deepcopy(run.method.state_dict())
    total = 0.0
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        for x1, x2, y in batches:
            with autocast(run.device, run.amp_dtype):
                total += float(run.model(x1, x2, y))
    run.method.load_state_dict(saved)
    return distributed.all_reduce_mean(total / max(1, len(batches)), run.device)


# ----------------------------------------------------------------------------- printing


def progress_bar(total: int, desc: str, show: bool):
    """A tqdm bar over an epoch's steps (None when not shown)."""
    return tqdm(total=total, desc=desc, leave=False) if show else None


def advance(bar, loss: torch.Tensor, steps_done: int) -> float | None:
    """Move the progress bar; every 10 steps read the loss and show it (the only read of a step, which
    waits for the GPU). Returns the loss read, or None (no bar, or not a step that reads)."""
    if bar is None:
        return None
    bar.update()
    if steps_done % 10 != 1:
        return None
    value = float(loss)
    bar.set_postfix(loss=f"{value:.3f}")
    return value


def close(bar) -> None:
    if bar is not None:
        bar.close()


@contextmanager
def status(show: bool, text: str):
    """A line shown while a slow step runs, cleared when it ends (nothing when not shown)."""
    bar = tqdm(total=0, desc=text, bar_format="{desc}...", leave=False) if show else None
    try:
        yield
    finally:
        close(bar)


def say(show: bool, message: str) -> None:
    """Print a line without breaking a progress bar."""
    if show:
        tqdm.write(message)


def report(record: dict, epochs: int, show: bool) -> None:
    """One line per epoch: the loss and every key of the record."""
    say(
        show,
        f"epoch {record['epoch']:>3}/{epochs}  loss {record['loss']:.4f}  kNN {record['knn_accuracy']:.4f}  "
        f"align {record['alignment']:.3f}  unif {record['uniformity']:.3f}  "
        f"pos-cos {record['positive_cosine']:.3f}  erank z {record['erank_z']:.1f}  "
        f"erank h {record['erank_h']:.1f}  {record['seconds']:.1f}s",
    )
