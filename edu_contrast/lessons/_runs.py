r"""Tracked training runs, shared by notebooks 03 and 04: ``train.fit`` plus the geometry of held-out images.

Before training and after every epoch, the first n images of the evaluation set (the tracked set, never
trained on) are measured with ``measure`` (eval mode, BatchNorm calibrated once before training, two
augmented views with a fixed seed):

    alignment, uniformity, erank_z, erank_h, positive_cosine   ``measure.report_embeddings`` (one definition)
    pair_distance = 2/(n(n−1)) Σ_{i<j} ‖ẑ_i − ẑ_j‖²           how far apart unrelated images land
    std_z         = (1/d) Σ_k std(z^k)                         spread of the raw z, before normalising
    knn_z         = kNN accuracy on ẑ (neighbours: the z of the first ``REFERENCE_SIZE`` training images)

ẑ = z/‖z‖. For 2-D and 3-D embeddings a ``Run`` also keeps ẑ after every epoch, for the circle and
sphere plots. ``tracked_run`` keeps a run for the session (``lessons._cache.cached``), so a widget can
switch between runs without training again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import augment, measure, probes, train
from edu_contrast._validation import check_int, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.utils import default_device

__all__ = ["REFERENCE_SIZE", "Run", "pair_distance", "measure_geometry", "track_run", "tracked_run"]

REFERENCE_SIZE = 1024  # training images whose z are the neighbours of the kNN probe on z
SUMMARY_KEYS = (
    "alignment",
    "uniformity",
    "pair_distance",
    "std_z",
    "erank_z",
    "erank_h",
    "knn_z",
    "knn_accuracy",
)


def pair_distance(z: torch.Tensor) -> float:
    """2/(n(n−1)) Σ_{i<j} ‖ẑ_i − ẑ_j‖² = 2 − 2·(‖Σ_i ẑ_i‖² − n)/(n(n−1)), without the n × n matrix."""
    u = F.normalize(z.double(), dim=1)  # (n, d)
    n = u.shape[0]
    return float(2 - 2 * (u.sum(dim=0).pow(2).sum() - n) / (n * (n - 1)))


def measure_geometry(
    method: nn.Module, images: torch.Tensor, *, aug: nn.Module | None = None, seed: int = 0, device=None
) -> dict:
    r"""The geometry of ``method``'s embeddings of uint8 ``images`` ``(n, C, H, W)``, as floats and tensors.

    ``measure.measure_embeddings`` (``aug=None``: the training distribution for this image size) and
    its report, plus ``pair_distance`` and ``std_z`` of the clean z, and the tensors ``z`` ``(n, d)``
    and ``h`` ``(n, feature_dim)`` on the CPU.
    """
    emb = measure.measure_embeddings(method, images, aug=aug, seed=seed, device=device)
    return {
        **measure.report_embeddings(emb),
        "pair_distance": pair_distance(emb.z),
        "std_z": float(emb.z.double().std(dim=0).mean()),
        "z": emb.z,
        "h": emb.h,
    }


@dataclass
class Run:
    """One training run and its geometry.

    ``history[e]`` merges ``train.fit``'s record of epoch e (loss, knn_accuracy on h, seconds, ...) with
    the tracked set's ``measure_geometry`` floats and ``knn_z`` (these win where the names are shared);
    entry 0 is before training. ``snapshots[e]`` is ẑ ``(n, d)`` of the tracked images after epoch e
    (empty unless requested). ``z``, ``h``, ``labels`` are the final projections, features and classes
    of the tracked images; ``linear_accuracy`` is fit's linear probe on h.
    """

    name: str
    history: list[dict]
    linear_accuracy: float | None
    z: torch.Tensor
    h: torch.Tensor
    labels: torch.Tensor
    snapshots: list[torch.Tensor] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def final(self) -> dict:
        """The history entry of the last epoch."""
        return self.history[-1]

    def trajectory(self) -> list[tuple[float, float]]:
        """(alignment, uniformity) per epoch, for ``viz.plot_alignment_uniformity``."""
        return [(h["alignment"], h["uniformity"]) for h in self.history]

    def summary(self) -> dict:
        """The final numbers in one flat dict (a row of a results table)."""
        return {
            "run": self.name,
            **{k: self.final[k] for k in SUMMARY_KEYS},
            "linear_accuracy": self.linear_accuracy,
            "seconds": self.seconds,
        }


def _recorder(method, train_data, images, labels, *, augment_config, seed, device, snapshots):
    """fit's callback measuring the tracked ``images`` ``(n, C, H, W)``, and its lists of records and ẑ."""
    _, channels, size, _ = train_data.images.shape
    protected = getattr(train_data, "protected_channels", 0)
    aug = augment.batched(size, channels, augment_config, protected_channels=protected)  # 𝒜 of training
    reference = train_data.images[:REFERENCE_SIZE]  # (m, C, H, W): the labelled neighbours on z
    reference_labels = train_data.labels[:REFERENCE_SIZE]
    records: list[dict] = []
    kept: list[torch.Tensor] = []

    def record(_entry=None) -> None:
        g = measure_geometry(method, images, aug=aug, seed=seed, device=device)
        z_reference = measure.embed(method, reference, project=True, device=device)  # (m, d)
        k = min(20, len(reference))
        g["knn_z"] = probes.knn_probe(z_reference, reference_labels, g["z"], labels, k=k)
        if snapshots if snapshots is not None else g["z"].shape[1] <= 3:
            kept.append(F.normalize(g["z"], dim=1))  # (n, d) ẑ
        records.append(g)

    return record, records, kept


def track_run(
    method: nn.Module,
    train_data,
    eval_data,
    *,
    epochs: int,
    name: str = "run",
    batch_size: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    augment_config=None,
    seed: int = 0,
    track_size: int = 512,
    snapshots: bool | None = None,
    device=None,
    **fit_kwargs,
) -> Run:
    r"""Train ``method`` with ``train.fit`` and measure its geometry before training and after every epoch.

    Args:
        method: a ``methods`` module, freshly built.
        train_data, eval_data: ``data.ImageTensors``; the first ``track_size`` images of ``eval_data`` are
            the tracked set, and fit's linear probe uses all of ``eval_data``.
        epochs, batch_size, lr, weight_decay, augment_config, seed: passed to ``train.fit``; the views of
            the measurements use the same ``augment_config`` and ``seed``.
        name: the run's name in tables and legends.
        snapshots: keep ẑ of the tracked images after every epoch (default: when z has 2 or 3 dimensions).
        device: default ``utils.default_device()``.
        **fit_kwargs: more ``train.fit`` arguments (``samples_per_epoch``, ``warmup_epochs``, ...).
    """
    where = "track_run"
    epochs = check_int(epochs, "epochs", where, minimum=0)
    track_size = check_int(track_size, "track_size", where, minimum=2)
    device = torch.device(device) if device is not None else default_device()
    options = {"batch_size": batch_size, "lr": lr, "weight_decay": weight_decay}
    tracking = {"augment_config": augment_config, "seed": seed, "device": device}
    images, labels = eval_data.images[:track_size], eval_data.labels[:track_size]  # (n, C, H, W), (n,)
    record, records, kept = _recorder(method, train_data, images, labels, snapshots=snapshots, **tracking)
    method.to(device)
    start = time.perf_counter()
    measure.calibrate_batchnorm(method, train_data.images[:REFERENCE_SIZE], device=device)
    record()
    fit_kwargs |= {"eval_data": eval_data, "progress": False, "callback": record}
    result = train.fit(method, train_data, epochs=epochs, **options, **tracking, **fit_kwargs)
    seconds = time.perf_counter() - start
    floats = [{k: v for k, v in g.items() if not isinstance(v, torch.Tensor)} for g in records]
    return Run(
        name=name,
        history=[{**fit_entry, **g} for fit_entry, g in zip(result["history"], floats)],
        linear_accuracy=result["linear_accuracy"],
        z=records[-1]["z"],
        h=records[-1]["h"],
        labels=labels.clone(),
        snapshots=kept,
        config={"method": f"{type(method).__name__}({method.extra_repr()})", "epochs": epochs, **options}
        | {"seed": seed, "augment_config": augment_config},
        seconds=seconds,
    )


def tracked_run(
    name: str, build: Callable[[], nn.Module], train_data, eval_data, *, epochs: int, **kwargs
) -> Run:
    """``track_run(build(), train_data, eval_data, epochs=epochs, name=name, **kwargs)``, once per session.

    The run is kept under a key made of ``name``, ``epochs``, the data sizes and ``kwargs``: ``name``
    must identify the method ``build`` makes (its loss and hyperparameters).
    """
    if not callable(build):
        fail("build", "tracked_run", "a function returning a fresh method", type(build).__name__, TypeError)
    key = cache_key(track_run, name=name, epochs=epochs, train=len(train_data), eval=len(eval_data), **kwargs)
    return cached(key, lambda: track_run(build(), train_data, eval_data, epochs=epochs, name=name, **kwargs))
