"""Notebook 07: the geometry labels give embeddings (class collapse towards a regular simplex), label noise.

With labels, SupCon (Khosla et al. 2020) pulls every view of a class together. Graf et al. 2021
("Dissecting Supervised Contrastive Learning", ICML) prove that its minimisers on the sphere put
all the views of class c on one point μ_c, and the C points on a *regular simplex*: the centred
class means all have the same pairwise cosine −1/(C−1). Here are the measures of that picture,

    μ_c = (1/n_c) Σ_{i: y_i = c} ẑ_i                                      class mean of the unit embeddings
    spread = (1/N) Σ_i ‖ẑ_i − μ_{y_i}‖² = 1 − Σ_c (n_c/N) ‖μ_c‖²           0 when every class is one point
    cos_{cc'} = cos(μ_c − μ̄, μ_{c'} − μ̄),  μ̄ = (1/C) Σ_c μ_c              → −1/(C−1) for a regular simplex

``supcon_free_embeddings`` / ``simplex_toy`` minimise SupCon over free points to show the simplex; the
cross-entropy baseline trained on the same views is ``methods.CrossEntropyBaseline``, whose loss reads as
InfoNCE against class prototypes (``cross_entropy_as_info_nce``); ``flip_labels`` and
``with_noisy_labels`` add symmetric label noise and ``label_noise_scores`` measures its cost (h and z
from ``measure.embed``). Symbols as in ``notebooks/00_notation.md``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses, measure, probes
from edu_contrast._validation import (
    check_choice,
    check_embeddings,
    check_int,
    check_labels,
    check_positive,
    fail,
)
from edu_contrast.lessons._cross_entropy_duality import cross_entropy_as_info_nce
from edu_contrast.lessons.methods import train_test_subsets
from edu_contrast.utils import MODES, one_thread

__all__ = [
    "scale",
    "load_data",
    "positive_mask",
    "supcon_anchor",
    "label_free_baseline",
    "class_means",
    "within_class_spread",
    "centred_mean_cosines",
    "simplex_cosine",
    "simplex_deviation",
    "regular_simplex",
    "class_geometry",
    "supcon_free_embeddings",
    "off_diagonal",
    "simplex_toy",
    "cross_entropy_as_info_nce",
    "flip_labels",
    "with_noisy_labels",
    "label_noise_scores",
]

_SCALES = {  # every size and budget of notebook 07, per mode (train/test None: the whole split)
    "quick": dict(dataset="digits", image=8, train=None, test=None, width=16, epochs=15, batch_size=128,
                  samples_per_epoch=None, noise_rates=(0.0, 0.5)),
    "lab": dict(dataset="fashion-mnist", image=16, train=4000, test=1000, width=16, epochs=10, batch_size=128,
                samples_per_epoch=None, noise_rates=(0.0, 0.5)),
    "full": dict(dataset="fashion-mnist", image=28, train=None, test=2000, width=32, epochs=30,
                 batch_size=256, samples_per_epoch=20_000, noise_rates=(0.0, 0.3, 0.6)),
}  # fmt: skip


def scale(mode: str) -> dict:
    """The sizes of notebook 07 in ``mode`` ("quick", "lab", "full"): data, width, budget, noise rates."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def load_data(mode: str, *, seed: int = 0):
    """``(train, test)`` ``ImageTensors`` of ``scale(mode)``: 8×8 digits (quick), Fashion-MNIST at 16×16
    (lab: 4000 / 1000 images) or 28×28 (full: 60 000 / 2000), subsets drawn with ``seed``."""
    return train_test_subsets(scale(mode), seed=seed)


def positive_mask(labels: torch.Tensor) -> torch.Tensor:
    """SupCon's positives: the ``(M, M)`` bool mask of P(i) = {p ≠ i : y_p = y_i} (Khosla et al. 2020)."""
    same_label = labels[:, None] == labels[None, :]  # (M, M)
    return same_label & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)  # p ≠ i


def supcon_anchor(z: torch.Tensor, labels: torch.Tensor, i: int, temperature: float) -> torch.Tensor:
    r"""ℓ_i = −(1/|P(i)|) Σ_{p ∈ P(i)} log [exp(s_ip/τ) / Σ_{a ∈ A(i)} exp(s_ia/τ)],  A(i) = {a ≠ i}.

    SupCon's loss of anchor ``i`` (Khosla et al. 2020, Eq. 2, L^sup_out); ``z`` ``(M, d)`` unit rows, s = ẑẑᵀ.
    """
    logits = z @ z[i] / temperature  # (M,) s_ia / τ
    others = torch.arange(len(z), device=z.device) != i  # A(i)
    log_prob = logits - torch.logsumexp(logits[others], dim=0)  # log exp(s_ia/τ) / Σ_{a ∈ A(i)} exp(s_ia/τ)
    return -log_prob[positive_mask(labels)[i]].mean()  # the mean over P(i) stays outside the log


def label_free_baseline(method: dict) -> dict:
    """The baseline of "do labels help?" for the run ``method`` (loss, temperature, epochs, width, batch_size,
    lr, seed): SimCLR, which uses no label, at SimCLR's own τ = 0.5 and every other setting unchanged, so the
    labels are the only difference and the baseline gets the same budget to win with."""
    return {**method, "loss": "SimCLR", "temperature": 0.5}


def _unit_and_classes(z, labels, where: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ẑ in float64, the labels, and the sorted classes present (at least two)."""
    check_embeddings(z, "z", where, min_rows=2)
    labels = check_labels(labels, z.shape[0], "labels", where).to(z.device)
    classes = torch.unique(labels)  # sorted
    if classes.numel() < 2:
        fail("labels", where, "labels of at least 2 classes", f"only class {classes.tolist()}")
    return F.normalize(z.detach().to(torch.float64), dim=1), labels, classes


@torch.no_grad()
def class_means(z: torch.Tensor, labels) -> torch.Tensor:
    r"""μ_c = (1/n_c) Σ_{i: y_i = c} ẑ_i, one row per class present, in sorted class order.

    Args:
        z: embeddings, shape ``(N, d)`` (normalised here to ẑ).
        labels: y, shape ``(N,)`` integer classes, at least two distinct.

    Returns:
        float64 tensor of shape ``(C, d)``; ‖μ_c‖ ≤ 1, with equality when class c is a single point.
    """
    unit, labels, classes = _unit_and_classes(z, labels, "class_means")
    one_hot = (labels[None, :] == classes[:, None]).to(unit.dtype)  # (C, N): row c marks class c
    return one_hot @ unit / one_hot.sum(dim=1, keepdim=True)  # (C, d)


@torch.no_grad()
def within_class_spread(z: torch.Tensor, labels) -> float:
    r"""spread = (1/N) Σ_i ‖ẑ_i − μ_{y_i}‖² = 1 − Σ_c (n_c/N) ‖μ_c‖², in [0, 1].

    0 when every class has collapsed to one point on the sphere; 1 when every class mean is the
    origin (the class is spread evenly around the sphere). The second form follows from ‖ẑ_i‖ = 1.

    Args:
        z: embeddings, shape ``(N, d)``.  labels: y, shape ``(N,)``.
    """
    unit, labels, classes = _unit_and_classes(z, labels, "within_class_spread")
    means = class_means(unit, labels)  # (C, d)
    index = torch.searchsorted(classes, labels)  # (N,) row of μ_{y_i}
    return float((unit - means[index]).pow(2).sum(dim=1).mean())


@torch.no_grad()
def centred_mean_cosines(z: torch.Tensor, labels) -> torch.Tensor:
    r"""cos_{cc'} = cos(μ_c − μ̄, μ_{c'} − μ̄) with μ̄ = (1/C) Σ_c μ_c: the ``(C, C)`` matrix Graf et al. draw.

    For a regular simplex every off-diagonal entry is −1/(C−1) (``simplex_cosine``); the diagonal is 1.
    """
    means = class_means(z, labels)  # (C, d)
    centred = F.normalize(means - means.mean(dim=0, keepdim=True), dim=1)  # (C, d)
    return centred @ centred.T  # (C, C)


def simplex_cosine(num_classes: int) -> float:
    """−1/(C−1): the pairwise cosine of the C vertices of a regular simplex centred at the origin."""
    num_classes = check_int(num_classes, "num_classes", "simplex_cosine", minimum=2)
    return -1.0 / (num_classes - 1)


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The C(C−1) off-diagonal entries of a ``(C, C)`` matrix, row by row (the pairs c ≠ c′)."""
    c = matrix.shape[0]
    return matrix[~torch.eye(c, dtype=torch.bool, device=matrix.device)]  # (C(C−1),)


@torch.no_grad()
def simplex_deviation(z: torch.Tensor, labels) -> float:
    r"""mean_{c ≠ c'} |cos_{cc'} + 1/(C−1)|: 0 for class means on a regular simplex.

    The largest possible value is 1 + 1/(C−1) (all means in one direction).
    """
    cosines = centred_mean_cosines(z, labels)  # (C, C)
    return float((off_diagonal(cosines) - simplex_cosine(cosines.shape[0])).abs().mean())


def regular_simplex(num_classes: int, dim: int | None = None) -> torch.Tensor:
    r"""The C unit vertices of a regular simplex centred at 0, shape ``(C, dim)``, dim ≥ C − 1 (the default).

    v_c ∝ e_c − (1/C)·1 lie in the (C − 1)-dimensional subspace orthogonal to 1; written in an orthonormal
    basis of it (then zero-padded to ``dim``), they sum to 0 and have pairwise cosine −1/(C−1): the
    configuration SupCon's class means approach.
    """
    where = "regular_simplex"
    num_classes = check_int(num_classes, "num_classes", where, minimum=2)
    dim = num_classes - 1 if dim is None else check_int(dim, "dim", where, minimum=num_classes - 1)
    centred = torch.eye(num_classes, dtype=torch.float64) - 1.0 / num_classes  # (C, C) rows e_c − 1/C
    basis = torch.linalg.svd(centred).Vh[: num_classes - 1]  # (C − 1, C) orthonormal rows spanning the rows
    vertices = F.normalize(centred @ basis.T, dim=1)  # (C, C − 1)
    return F.pad(vertices, (0, dim - (num_classes - 1)))  # (C, dim)


def class_geometry(z: torch.Tensor, labels) -> dict:
    """The three numbers of this module in one dict: ``spread``, ``simplex_deviation``, ``mean_norm``.

    ``mean_norm`` is the average ‖μ_c‖ (1 when each class is a point on the sphere).
    """
    means = class_means(z, labels)
    return {
        "spread": within_class_spread(z, labels),
        "simplex_deviation": simplex_deviation(z, labels),
        "mean_norm": float(means.norm(dim=1).mean()),
    }


def supcon_free_embeddings(
    num_classes: int,
    dim: int,
    *,
    per_class: int = 10,
    temperature: float = 0.5,
    steps: int = 200,
    lr: float = 0.1,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Minimise ``losses.supcon`` over free points ẑ_i ∈ S^{dim−1} (no encoder): what SupCon wants.

    ``per_class`` points per class start at random and Adam moves them for ``steps`` steps. Graf et al.
    2021 prove that the minimiser, when dim ≥ C − 1, puts each class on one point and the C points on
    a regular simplex; with dim < C − 1 no regular simplex fits and the classes settle elsewhere.

    Args:
        num_classes: C ≥ 2.  dim: d ≥ 2.  per_class: points per class (≥ 2).  temperature: τ > 0.
        steps: Adam steps.  lr: Adam's learning rate.  seed: the starting points.

    Returns:
        ẑ ``(C·per_class, dim)`` float64 unit rows and their labels ``(C·per_class,)``.
    """
    where = "supcon_free_embeddings"
    num_classes = check_int(num_classes, "num_classes", where, minimum=2)
    dim = check_int(dim, "dim", where, minimum=2)
    per_class = check_int(per_class, "per_class", where, minimum=2)
    temperature = check_positive(temperature, "temperature", where)
    steps = check_int(steps, "steps", where, minimum=0)
    lr = check_positive(lr, "lr", where)
    labels = torch.arange(num_classes).repeat_interleave(per_class)  # (N,)
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(len(labels), dim, generator=generator, dtype=torch.float64).requires_grad_()  # (N, d)
    optimiser = torch.optim.Adam([z], lr=lr)
    with one_thread():
        for _ in range(steps):
            # one view per point: P(i) = the other points of i's class (τ_b = τ, the plain Eq. 2)
            loss = losses.supcon(z[:, None], labels, temperature=temperature, base_temperature=temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return F.normalize(z.detach(), dim=1), labels


def simplex_toy(
    num_classes: int = 4, dim: int = 3, temperature: float = 0.5, *, steps: int = 200, seed: int = 0
):
    r"""SupCon's minimiser over free points (``supcon_free_embeddings``) and how close it is to a simplex.

    Returns:
        ``{"z": ẑ (N, dim), "labels": (N,), "cosines": the off-diagonal centred class-mean cosines
        (C(C−1),), "target": −1/(C−1), "spread", "simplex_deviation", "fits": dim ≥ C − 1}``.
    """
    z, labels = supcon_free_embeddings(num_classes, dim, temperature=temperature, steps=steps, seed=seed)
    return {
        "z": z,
        "labels": labels,
        "cosines": off_diagonal(centred_mean_cosines(z, labels)),
        "target": simplex_cosine(num_classes),
        "spread": within_class_spread(z, labels),
        "simplex_deviation": simplex_deviation(z, labels),
        "fits": dim >= num_classes - 1,
    }


def flip_labels(labels, rate: float, num_classes: int, *, seed: int = 0) -> torch.Tensor:
    """Symmetric label noise: each label, with probability ``rate``, becomes a uniformly drawn *other* class.

    So a fraction ≈ ``rate`` of the labels is wrong. Seeded (the same ``seed`` flips the same labels).

    Args:
        labels: y, shape ``(N,)`` in [0, C).  rate: in [0, 1].  num_classes: C ≥ 2.
    """
    where = "flip_labels"
    rate = check_positive(rate, "rate", where, allow_zero=True)
    if rate > 1:
        fail("rate", where, "in [0, 1]", rate)
    num_classes = check_int(num_classes, "num_classes", where, minimum=2)
    labels = check_labels(labels, len(labels), "labels", where).cpu()
    generator = torch.Generator().manual_seed(seed)
    flip = torch.rand(labels.shape, generator=generator) < rate  # (N,)
    shift = torch.randint(1, num_classes, labels.shape, generator=generator)  # (N,) in [1, C): never 0
    return torch.where(flip, (labels + shift) % num_classes, labels)


def with_noisy_labels(dataset, rate: float, *, seed: int = 0):
    """A shallow copy of an ``ImageTensors`` whose ``labels`` went through ``flip_labels`` (images shared)."""
    noisy = copy.copy(dataset)
    noisy.labels = flip_labels(dataset.labels, rate, len(dataset.classes), seed=seed)
    return noisy


def label_noise_scores(method: nn.Module, noisy_train, test, *, k: int = 20) -> dict:
    """How a model trained on ``noisy_train`` does on the clean ``test`` labels.

    ``knn_accuracy``: the kNN probe on the encoder features h, whose neighbours carry the *noisy* training
    labels (the only labels one has), scored on the clean test labels; ``linear_accuracy``: the linear
    probe on h fitted on the noisy training labels, scored on the clean test labels; ``spread``:
    ``within_class_spread`` of the test projections z under their clean labels.

    Args:
        method: a trained method (``embed``/``project``).  noisy_train, test: ``ImageTensors``.
        k: the number of neighbours.
    """
    h_train = measure.embed(method, noisy_train.images)  # (N, feature_dim)
    h_test = measure.embed(method, test.images)  # (M, feature_dim)
    z_test = measure.embed(method, test.images, project=True)  # (M, out_dim)
    return {
        "knn_accuracy": probes.knn_probe(h_train, noisy_train.labels, h_test, test.labels, k=k),
        "linear_accuracy": probes.linear_probe(h_train, noisy_train.labels, h_test, test.labels),
        "spread": within_class_spread(z_test, test.labels),
    }
