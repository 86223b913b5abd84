r"""Notebook 06: MoCo's queue and momentum encoder, and one table for SimCLR, MoCo, BYOL and VICReg.

MoCo (He et al. 2020, "Momentum Contrast", Sec. 3.2) keeps the keys of the last M/N batches in a ring
buffer of M slots and uses them as negatives. Step t (t = 1 … T) writes its N keys at slots

    (ptr + j) mod M,  j = 0 … N − 1,   ptr = (t − 1)·N mod M,

so slot s holds a key written a = 0, 1, …, ⌈M/N⌉ − 1 steps ago by the key encoder of that time, which is
an exponential moving average of the query encoder:

    ξ_t = β·ξ_{t−1} + (1 − β)·θ_t   ⇒   ξ_t = Σ_{a ≥ 0} (1 − β)·β^a · θ_{t−a}   (+ the initial weights)

The weights (1 − β)·β^a fall off over about 1/(1 − β) steps: with β close to 1 the key encoder changes
slowly, so keys written many steps apart stay comparable, the consistency argument of the paper. (The
MoCo paper writes K for the queue length and m for the momentum; ``notebooks/00_notation.md`` uses M, β.)

``evaluate_method`` gives one row of the comparison: ``measure``'s report of the test images (alignment
of two augmented views, uniformity and erank of the clean z, erank of h, positive cosine) and two
probes on h: the linear probe with every label and ``probes.few_label_probe`` with ``per_class``.
``scale(mode)`` holds every size and budget of the notebook per mode and ``load_data(mode, seed=...)``
its data: 8×8 digits (quick), Fashion-MNIST area-resized to 16×16 (lab, a 2-core CPU) or 28×28 (full).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import data, measure, probes
from edu_contrast._validation import check_choice, check_int, check_positive, fail
from edu_contrast.utils import MODES

__all__ = [
    "scale",
    "resized_subset",
    "load_data",
    "train_test_subsets",
    "check_momentum",
    "enqueue",
    "queue_ages",
    "key_encoder_weights",
    "evaluate_method",
]

_SCALES = {  # every size and budget of notebook 06, per mode (train/test None: the whole split)
    "quick": dict(dataset="digits", image=8, train=None, test=None, width=16, queue=1024,
                  epochs=12, batch_size=128, lr=2e-3),
    "lab": dict(dataset="fashion-mnist", image=16, train=4000, test=1000, width=16, queue=2048,
                epochs=10, batch_size=128, lr=2e-3),
    "full": dict(dataset="fashion-mnist", image=28, train=20_000, test=2_000, width=32, queue=4096,
                 epochs=30, batch_size=256, lr=2e-3),
}  # fmt: skip


def scale(mode: str) -> dict:
    """The sizes of notebook 06 in ``mode`` ("quick", "lab", "full"): data, width, queue M and budget."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def resized_subset(name: str, split: str, n: int | None, side: int, *, seed: int = 0) -> data.ImageTensors:
    """A stratified subset of ``n`` images (``None``: all) of ``data.load_dataset(name, split)``, drawn
    with ``seed`` and area-resized to ``side``×``side``: uint8 ``(n, C, side, side)``."""
    part = data.load_dataset(name, split)
    if n is not None and n < len(part):
        part = part.subset(n, torch.Generator().manual_seed(seed))
    if part.images.shape[-1] != side:
        images = F.interpolate(part.images.float(), size=side, mode="area")  # (n, C, side, side)
        part = data.ImageTensors(images.round().clamp(0, 255).to(torch.uint8), part.labels, part.classes)
    return part


def load_data(mode: str, *, seed: int = 0) -> tuple[data.ImageTensors, data.ImageTensors]:
    """``(train, test)`` of ``scale(mode)`` (``resized_subset``, subsets drawn with ``seed``).

    Quick: scikit-learn's digits (1437 / 360, 8×8). Lab: Fashion-MNIST at 16×16; full: at 28×28.
    """
    return train_test_subsets(scale(mode), seed=seed)


def train_test_subsets(size: dict, *, seed: int = 0) -> tuple[data.ImageTensors, data.ImageTensors]:
    """``(train, test)`` ``resized_subset``s for a ``scale`` dict (its dataset, image side, train, test)."""
    return tuple(
        resized_subset(size["dataset"], split, size[split], size["image"], seed=seed)
        for split in ("train", "test")
    )


def check_momentum(momentum, where: str) -> float:
    """The key encoder's momentum β, a number in [0, 1)."""
    momentum = check_positive(momentum, "momentum", where, allow_zero=True)
    if momentum >= 1:
        fail("momentum", where, "in [0, 1)", momentum)
    return momentum


def enqueue(queue: torch.Tensor, ptr: int, keys: torch.Tensor) -> int:
    r"""Write the n ``keys`` into the ring buffer ``queue`` in place; return the next slot to write.

        queue[(ptr + j) mod M] ← k_j   for j = 0 … n − 1,        new ptr = (ptr + n) mod M

    ``queue`` is ``(M, d)``, ``keys`` ``(n, d)``, ``ptr`` an int in [0, M). The oldest entries are
    overwritten first; when n > M only the newest M keys stay. ``MoCo.enqueue`` does this to its
    ``queue`` and ``queue_ptr`` buffers (after normalising the keys and gathering them across processes).
    """
    size = queue.shape[0]
    for j in range(keys.shape[0]):
        queue[(ptr + j) % size] = keys[j]  # (d,) key j into the oldest slot; wraps around at the end
    return (ptr + keys.shape[0]) % size


def queue_ages(queue_size: int, batch_size: int, steps: int) -> tuple[np.ndarray, int]:
    """Which step wrote each slot of MoCo's queue after ``steps`` enqueues of ``batch_size`` keys.

    Step t (t = 1 … T) writes slots (ptr + j) mod M for j < N, ptr = (t − 1)·N mod M (``enqueue``, as
    ``MoCo.enqueue``). ``queue_size`` is M, ``batch_size`` N, ``steps`` T.

    Returns:
        ``(ages, ptr)``: ``ages`` int array ``(M,)`` with T − t for the slot's writer t (0 = the newest
        batch) and −1 for slots still holding their random initial value; ``ptr`` the next slot to write.
    """
    where = "queue_ages"
    queue_size = check_int(queue_size, "queue_size", where)
    batch_size = check_int(batch_size, "batch_size", where)
    steps = check_int(steps, "steps", where, minimum=0)
    written = torch.full((queue_size, 1), -1, dtype=torch.int64)  # (M, 1) the step that wrote each slot
    first = max(1, steps - math.ceil(queue_size / batch_size))  # older steps are overwritten entirely
    ptr = (first - 1) * batch_size % queue_size
    for t in range(first, steps + 1):
        ptr = enqueue(written, ptr, torch.full((batch_size, 1), t))  # the "keys" are the step number
    written = written[:, 0].numpy()  # (M,)
    ages = np.where(written >= 0, steps - written, -1)  # (M,)
    return ages, ptr


def key_encoder_weights(momentum: float, max_age: int) -> np.ndarray:
    r"""(1 − β)·β^a for a = 0 … max_age: the share of the query encoder θ_{t−a} in the key encoder ξ_t.

    Unrolling ξ_t = β·ξ_{t−1} + (1 − β)·θ_t (He et al. 2020, Eq. 2). ``momentum`` is β ∈ [0, 1).
    Returns a float64 array ``(max_age + 1,)``.
    """
    momentum = check_momentum(momentum, "key_encoder_weights")
    max_age = check_int(max_age, "max_age", "key_encoder_weights", minimum=0)
    return (1 - momentum) * momentum ** np.arange(max_age + 1, dtype=np.float64)  # (max_age + 1,)


def evaluate_method(method: nn.Module, train_data, test_data, *, per_class: int = 10, seed: int = 0) -> dict:
    """One row of the comparison table: how a trained ``method`` embeds ``test_data``.

    ``measure.report_embeddings`` of the test images (views drawn with ``seed``), plus
    ``linear_accuracy`` (every training label) and ``few_label_accuracy`` (``per_class`` labels per
    class, ``probes.few_label_probe``) of probes on h. Returns a dict of floats.
    """
    train_h = measure.embed(method, train_data.images)  # (N, feature_dim)
    emb = measure.measure_embeddings(method, test_data.images, aug=None, seed=seed)
    report = measure.report_embeddings(
        emb, labels=test_data.labels, train_h=train_h, train_labels=train_data.labels, probes_run=("linear",)
    )
    report["few_label_accuracy"] = probes.few_label_probe(
        train_h, train_data.labels, emb.h, test_data.labels, per_class=per_class, seed=seed
    )
    return report
