r"""The one place that measures a method: every number a notebook prints about embeddings comes from here.

For uint8 images x_i ``(n, C, H, W)`` and a method with encoder f and projection head g:

    h_i = f(x_i)                    encoder features of the clean image          (n, feature_dim)
    z_i = g(f(x_i))                 projection of the clean image                (n, d)
    z⁽¹⁾_i, z⁽²⁾_i = g(f(t₁(x_i))), g(f(t₂(x_i)))   two augmented views, t ~ 𝒜 drawn with a fixed seed

always in eval mode (BatchNorm uses its running statistics), never touching the global random state.
``embedding_report`` turns them into these fixed keys, each defined once (``notebooks/00_notation.md``):

    alignment        = (1/n) Σ_i ‖ẑ⁽¹⁾_i − ẑ⁽²⁾_i‖²                  two augmented views   (Wang & Isola 2020)
    uniformity       = log 2/(n(n−1)) Σ_{i<j} exp(−2‖ẑ_i − ẑ_j‖²)   clean z               (Wang & Isola 2020)
    erank_z, erank_h = exp H(σ/Σσ) of clean z, of clean h            (Roy & Vetterli 2007)
    positive_cosine  = (1/n) Σ_i ẑ⁽¹⁾_i · ẑ⁽²⁾_i                    two augmented views
    knn_accuracy     = cosine-weighted kNN on h (Wu et al. 2018), neighbours from ``train``
    linear_accuracy  = logistic-regression probe on h, fitted on ``train``

ẑ = z/‖z‖. An untrained network still has BatchNorm's default running statistics (mean 0, variance 1),
so in eval mode it maps every image to nearly the same point: ``calibrate_batchnorm`` first estimates
them on training images, so a "random encoder" baseline is a fair one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from edu_contrast import augment, diagnostics, probes
from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.utils import autocast, to_float

__all__ = [
    "REPORT_KEYS",
    "PROBE_KEYS",
    "Embeddings",
    "eval_mode",
    "calibrate_batchnorm",
    "embed",
    "project_views",
    "measure_embeddings",
    "report_embeddings",
    "embedding_report",
]

REPORT_KEYS = ("alignment", "uniformity", "erank_z", "erank_h", "positive_cosine")
PROBE_KEYS = {"knn": "knn_accuracy", "linear": "linear_accuracy"}


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model.eval()`` inside the block; the previous ``.training`` flag of every submodule afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def _device_of(model: nn.Module, device) -> torch.device:
    return torch.device(device) if device is not None else next(model.parameters()).device


def _check_images(images, where: str, min_rows: int = 1) -> None:
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = f"{images.dtype} of shape {tuple(images.shape)}" if isinstance(images, torch.Tensor) else None
        fail("images", where, "a uint8 tensor of shape (n, C, H, W)", got or type(images).__name__, TypeError)
    if images.shape[0] < min_rows:
        fail("images", where, f"at least {min_rows} images", f"shape {tuple(images.shape)}")


@torch.no_grad()
def calibrate_batchnorm(
    model: nn.Module, images: torch.Tensor, *, batch_size: int = 256, device=None
) -> None:
    """Re-estimate every BatchNorm's running mean and variance on uint8 ``images``; no weight changes.

    One pass in train mode with a cumulative average (``momentum=None``: the mean of the batches'
    statistics), as ``torch.optim.swa_utils.update_bn`` does. ``model`` is a method (its ``project``
    runs f and g) or a plain module (its ``forward`` runs).
    """
    _check_images(images, "calibrate_batchnorm")
    device = _device_of(model, device)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    modes = [(m, m.training) for m in model.modules()]
    forward = getattr(model, "project", model)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    try:
        for start in range(0, images.shape[0], batch_size):
            forward(to_float(images[start : start + batch_size], device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        for m, training in modes:
            m.training = training


@torch.no_grad()
def embed(
    method: nn.Module,
    images: torch.Tensor,
    *,
    project: bool = False,
    device=None,
    batch_size: int = 1024,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """h = f(x) (or z = g(f(x)) with ``project=True``) of clean uint8 ``images``, float32 on the CPU.

    Eval mode, in batches of ``batch_size``; ``amp_dtype`` is an optional autocast dtype (the
    training run's, ``train.precision.autocast_dtype``). Returns ``(n, feature_dim)`` or ``(n, d)``.
    """
    _check_images(images, "embed")
    device = _device_of(method, device)
    fn = method.project if project else method.embed
    with eval_mode(method), autocast(device, amp_dtype):
        out = [
            fn(to_float(images[i : i + batch_size], device)).float().cpu()
            for i in range(0, images.shape[0], batch_size)
        ]
    return torch.cat(out)  # (n, feature_dim) or (n, d)


@torch.no_grad()
def project_views(
    method: nn.Module,
    images: torch.Tensor,
    aug: nn.Module,
    *,
    seed: int,
    device=None,
    amp_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """z⁽¹⁾, z⁽²⁾ = g(f(t₁(x))), g(f(t₂(x))) of uint8 ``images``, each ``(n, d)`` float32 on the CPU.

    ``aug`` is a batched augmentation (``augment.batched``) drawing t₁, t₂ from a generator seeded
    with ``seed``: the same images get the same views in every call. Eval mode; the global random
    state is left as it was.
    """
    _check_images(images, "project_views")
    device = _device_of(method, device)
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), eval_mode(method), autocast(device, amp_dtype):
        torch.manual_seed(seed)
        x = to_float(images, device)  # (n, C, H, W) in [0, 1]
        z1 = method.project(aug(x)).float().cpu()  # (n, d)
        z2 = method.project(aug(x)).float().cpu()  # (n, d)
    return z1, z2


@dataclass
class Embeddings:
    """Report inputs: clean h ``(n, feature_dim)``; clean z and two views z1, z2 ``(n, d)``."""

    h: torch.Tensor
    z: torch.Tensor
    z1: torch.Tensor
    z2: torch.Tensor


def default_aug(images: torch.Tensor, *, protected_channels: int = 0) -> nn.Module:
    """The training distribution 𝒜 for images of this size (``augment.AugmentConfig.for_size``)."""
    _, channels, size, _ = images.shape
    return augment.batched(size, channels, protected_channels=protected_channels)


def measure_embeddings(
    method: nn.Module,
    images: torch.Tensor,
    *,
    aug: nn.Module | None,
    seed: int,
    device=None,
    amp_dtype: torch.dtype | None = None,
) -> Embeddings:
    """h, z of the clean ``images`` and z⁽¹⁾, z⁽²⁾ of two augmented views (``aug=None``: ``default_aug``)."""
    _check_images(images, "measure_embeddings", min_rows=2)
    device = _device_of(method, device)
    aug = (aug if aug is not None else default_aug(images)).to(device)
    kw = {"device": device, "amp_dtype": amp_dtype}
    z1, z2 = project_views(method, images, aug, seed=seed, **kw)
    h = embed(method, images, **kw)  # (n, feature_dim)
    z = embed(method, images, project=True, **kw)  # (n, d)
    return Embeddings(h=h, z=z, z1=z1, z2=z2)


def _labelled(train, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, labels) from an ImageTensors-like object or a pair."""
    if hasattr(train, "images") and hasattr(train, "labels"):
        return train.images, train.labels
    if isinstance(train, (tuple, list)) and len(train) == 2:
        return train[0], train[1]
    fail("train", where, "an ImageTensors or an (images, labels) pair", type(train).__name__, TypeError)


def report_embeddings(
    emb: Embeddings,
    *,
    labels: torch.Tensor | None = None,
    train_h: torch.Tensor | None = None,
    train_labels: torch.Tensor | None = None,
    probes_run: Sequence[str] = ("knn", "linear"),
    knn_k: int = 20,
) -> dict:
    """The report's floats from measured embeddings; the probes when ``labels`` and ``train_h`` are given."""
    report = {
        "alignment": diagnostics.alignment(emb.z1, emb.z2),
        "uniformity": diagnostics.uniformity(emb.z),
        "erank_z": diagnostics.effective_rank(emb.z),
        "erank_h": diagnostics.effective_rank(emb.h),
        "positive_cosine": diagnostics.positive_cosine(emb.z1, emb.z2),
    }
    if labels is None or train_h is None:
        return report
    if "knn" in probes_run:
        k = min(knn_k, train_h.shape[0])
        report["knn_accuracy"] = probes.knn_probe(train_h, train_labels, emb.h, labels, k=k)
    if "linear" in probes_run:
        report["linear_accuracy"] = probes.linear_probe(train_h, train_labels, emb.h, labels)
    return report


def embedding_report(
    method: nn.Module,
    images: torch.Tensor,
    *,
    aug: nn.Module | None,
    seed: int,
    labels: torch.Tensor | None = None,
    train=None,
    probes: Sequence[str] = ("knn", "linear"),
    knn_k: int = 20,
    device=None,
    amp_dtype: torch.dtype | None = None,
) -> dict:
    r"""How ``method`` embeds uint8 ``images`` ``(n, C, H, W)``: the fixed keys of the module docstring.

    Args:
        aug: the batched augmentation 𝒜 for the two views (``None``: ``default_aug``).
        seed: seeds the two views, so two epochs are compared on the same augmentations.
        labels: classes of ``images`` ``(n,)``; with ``train`` adds the probe accuracies.
        train: labelled training images (an ``ImageTensors`` or an ``(images, labels)`` pair) whose h
            are the kNN neighbours and the linear probe's training set.
        probes: which probes to run: ``"knn"``, ``"linear"`` or both.
        knn_k: k of the kNN probe (at most the number of training images).
        amp_dtype: autocast dtype for the forward passes (default float32).

    Returns:
        ``{"alignment", "uniformity", "erank_z", "erank_h", "positive_cosine"}`` as floats, plus
        ``"knn_accuracy"`` / ``"linear_accuracy"`` when ``labels`` and ``train`` are given.
    """
    where = "embedding_report"
    for name in probes:
        check_choice(name, "probes", where, tuple(PROBE_KEYS))
    knn_k = check_int(knn_k, "knn_k", where)
    if (labels is None) != (train is None):
        fail("labels", where, "given together with train (both or neither)", "only one of them")
    emb = measure_embeddings(method, images, aug=aug, seed=seed, device=device, amp_dtype=amp_dtype)
    train_h = train_labels = None
    if train is not None:
        train_images, train_labels = _labelled(train, where)
        train_h = embed(method, train_images, device=device, amp_dtype=amp_dtype)  # (m, feature_dim)
    return report_embeddings(
        emb, labels=labels, train_h=train_h, train_labels=train_labels, probes_run=probes, knn_k=knn_k
    )
