"""Experiment runners for notebooks 03 (alignment and uniformity) and 04 (collapse).

One run = ``train.fit`` plus a geometry record per epoch on a fixed set of held-out images:

    z = g(f(x)) of the clean images,  z⁽¹⁾, z⁽²⁾ = g(f(t₁(x))), g(f(t₂(x)))  (fixed augmentation seed)
    alignment   L_align   = (1/n) Σ_i ‖ẑ⁽¹⁾_i − ẑ⁽²⁾_i‖²                         (Wang & Isola 2020)
    uniformity  L_uniform = log 2/(n(n−1)) Σ_{i<j} exp(−2 ‖ẑ_i − ẑ_j‖²)
    pair_distance          = 2/(n(n−1)) Σ_{i<j} ‖ẑ_i − ẑ_j‖²  (how far apart unrelated images land)
    std_z                  = (1/d) Σ_j std(z^j)               (spread of the raw z, before normalising)
    effective_rank_z / _h  = erank of z and of the encoder features h                (Roy & Vetterli 2007)

Before the first measurement ``calibrate_batchnorm`` estimates BatchNorm's running statistics on
training images: with the default ones (mean 0, variance 1) an untrained network in eval mode maps every
image to nearly the same point, a collapse of the measurement, not of the network.

``track_run`` returns a ``Run`` holding that history, the final z and h, and (for 2-D and 3-D
embeddings) a snapshot of ẑ after every epoch for the circle and sphere plots. ``cached_run`` keeps
runs for the rest of the session, so a widget can switch between them without training again.

The small methods here exist for the experiments (each reuses the package's losses):

- ``AlignUniform``: Wang & Isola's own loss L_align + λ·L_uniform (λ = 0: alignment only, which collapses).
- ``Generalized``: Chen et al. 2020b's L_align + λ·L_dist (``losses.generalized_contrastive``).
- ``BYOLAblation``: BYOL with its predictor and/or its stop-gradient removed.
- ``without_projector``: train on the encoder features directly (z = h).

``run_ablation(family, switches, ...)`` builds the collapse grid of notebook 04 by name (``ABLATIONS``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import augment, diagnostics, losses, probes, train
from edu_contrast._validation import _fail, check_choice, check_int, check_positive
from edu_contrast.methods import BYOL, SimCLR, VICReg
from edu_contrast.methods.base import ContrastiveMethod
from edu_contrast.models import SmallConvNet

REFERENCE_SIZE = 1024  # training images whose z are the neighbours of the kNN probe on z

__all__ = [
    "AlignUniform",
    "Generalized",
    "BYOLAblation",
    "without_projector",
    "Run",
    "calibrate_batchnorm",
    "measure_geometry",
    "track_run",
    "cached_run",
    "clear_cached_runs",
    "cached_run_names",
    "ABLATIONS",
    "build_ablation",
    "ablation_name",
    "run_ablation",
]


# ----------------------------------------------------------------------------- methods for the experiments


class AlignUniform(ContrastiveMethod):
    r"""Wang & Isola's loss, optimised directly (Wang & Isola 2020, Sec. 4.1 defines both terms, Sec. 5
    trains encoders on their weighted sum).

        L = L_align(z1, z2; α) + λ · ½ [L_uniform(z1; t) + L_uniform(z2; t)]

    with ``losses.alignment`` and ``losses.uniformity`` on the projections z = g(f(x)). ``weight`` is λ
    (the paper uses λ = 1, α = 2, t = 2); λ = 0 leaves the alignment alone, which a constant map
    minimises: complete collapse.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        weight: λ ≥ 0. alpha: α > 0. t: t > 0.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        weight: float = 1.0,
        alpha: float = 2.0,
        t: float = 2.0,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "AlignUniform"
        self.weight = check_positive(weight, "weight", where, allow_zero=True)
        self.alpha = check_positive(alpha, "alpha", where)
        self.t = check_positive(t, "t", where)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_align + λ · mean uniformity of the two views; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        align = losses.alignment(z1, z2, alpha=self.alpha)
        if self.weight == 0:
            return align
        uniform = 0.5 * (losses.uniformity(z1, t=self.t) + losses.uniformity(z2, t=self.t))
        return align + self.weight * uniform

    def extra_repr(self) -> str:
        return f"weight={self.weight}, alpha={self.alpha}, t={self.t}"


class Generalized(ContrastiveMethod):
    r"""The generalized contrastive loss of Chen, Luo & Li 2020b ("Intriguing Properties of Contrastive
    Losses", Eq. 2–4) on the projections z = g(f(x)):

        L = L_align + λ · L_dist        (``losses.generalized_contrastive``)

    With ``distribution="lse"``, L_align = −(1/2N) Σ_i s_{i i⁺}/τ and
    L_dist = (1/2N) Σ_i log Σ_{k≠i} exp(s_ik/τ): λ = 1 is exactly SimCLR's NT-Xent, λ = 0 is alignment
    only (collapse), λ > 1 spreads harder.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        weight: λ ≥ 0. temperature: τ > 0. distribution: "lse" or "swd". prior: the SWD prior.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        weight: float = 1.0,
        temperature: float = 0.5,
        distribution: str = "lse",
        prior: str = "hypersphere",
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "Generalized"
        self.weight = check_positive(weight, "weight", where, allow_zero=True)
        self.temperature = check_positive(temperature, "temperature", where)
        self.distribution = check_choice(distribution, "distribution", where, ("lse", "swd"))
        self.prior = check_choice(prior, "prior", where, ("hypersphere", "hypercube", "normal"))

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_align + λ·L_dist of the two views' projections; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        return losses.generalized_contrastive(
            z1,
            z2,
            distribution=self.distribution,
            prior=self.prior,
            weight=self.weight,
            temperature=self.temperature,
        )

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, temperature={self.temperature}, distribution={self.distribution!r}, "
            f"prior={self.prior!r}"
        )


class BYOLAblation(BYOL):
    r"""BYOL (Grill et al. 2020) with its two asymmetries as switches, to show what each one prevents.

        p = q_θ(z) if ``predictor`` else z,   z = g_θ(f_θ(x))
        stop_gradient=True:   L = ‖p̂(x1) − sg(ẑ'(x2))‖² + ‖p̂(x2) − sg(ẑ'(x1))‖²,  z' from the EMA target ξ
        stop_gradient=False:  L = ‖p̂(x1) − ẑ(x2)‖² + ‖p̂(x2) − ẑ(x1)‖²,  the target is the online z itself,
                              with gradient (no target network is used)

    Both switches on is exactly ``methods.BYOL``. Without predictor and stop-gradient nothing stops every
    image from being sent to the same point, which makes the loss 0: complete collapse. ``base_momentum`` is
    τ_base of the target's EMA (1 freezes the target at its random initialisation).

    Args:
        encoder: f_θ. hidden_dim, out_dim, num_layers: g. predictor_hidden_dim: q's hidden width.
        base_momentum: τ_base in [0, 1]. predictor: use q_θ. stop_gradient: regress onto sg(target network).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        predictor_hidden_dim: int = 512,
        base_momentum: float = 0.99,
        predictor: bool = True,
        stop_gradient: bool = True,
    ):
        super().__init__(
            encoder,
            hidden_dim=hidden_dim,
            out_dim=out_dim,
            num_layers=num_layers,
            predictor_hidden_dim=predictor_hidden_dim,
            base_momentum=base_momentum,
        )
        for name, value in (("predictor", predictor), ("stop_gradient", stop_gradient)):
            if not isinstance(value, bool):
                _fail(name, "BYOLAblation", "True or False", repr(value), TypeError)
        self.use_predictor, self.stop_gradient = predictor, stop_gradient
        if not predictor:
            self.predictor = nn.Identity()  # p = z

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The symmetric BYOL loss with the switched-off parts removed; ``labels`` are ignored."""
        if self.stop_gradient:
            return super().loss(x1, x2)
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        p1, p2 = self.predictor(z1), self.predictor(z2)  # (B, out_dim) each
        # ‖p̂ − ẑ‖² = 2 − 2 cos(p, z), the BYOL loss with the gradient flowing into both branches
        return losses.alignment(p1, z2) + losses.alignment(p2, z1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, predictor={self.use_predictor}, stop_gradient={self.stop_gradient}"


def without_projector(method: ContrastiveMethod) -> ContrastiveMethod:
    """Remove the projection head g: z = h = f(x), so the loss acts on the encoder features directly.

    Jing et al. 2022 ("Understanding Dimensional Collapse in Contrastive Self-supervised Learning") show
    that the projector absorbs the collapse; without it the encoder features h themselves collapse.
    Only for methods whose head is used once (SimCLR, VICReg, AlignUniform, Generalized): BYOL's and
    MoCo's momentum copies and predictor are built for the head's output size. Returns ``method``.
    """
    where = "without_projector"
    if not isinstance(method, ContrastiveMethod):
        _fail("method", where, "a ContrastiveMethod", f"an object of type {type(method).__name__}", TypeError)
    for part in ("predictor", "target_projector", "key_projector"):
        if hasattr(method, part):
            _fail(
                "method",
                where,
                "a method without momentum network or predictor (SimCLR, VICReg, ...)",
                f"{type(method).__name__}, which has a '{part}'",
            )
    method.projector = nn.Identity()
    return method


# ----------------------------------------------------------------------------- measuring a run


@torch.no_grad()
def calibrate_batchnorm(
    method: nn.Module, images: torch.Tensor, *, batch_size: int = 256, device=None
) -> None:
    """Re-estimate every BatchNorm's running mean and variance on ``images`` (uint8), changing no weight.

    An untrained network's running statistics are the defaults (mean 0, variance 1), so in eval mode it
    maps every image to nearly the same point, whatever its weights: a collapse that is an artefact of the
    measurement, not of the network. One pass over the images in train mode with a cumulative average
    (``momentum=None``: the mean of the batches' statistics) replaces them with the statistics of the
    data, as ``torch.optim.swa_utils.update_bn`` does. Training itself is unaffected: in train mode
    BatchNorm uses the statistics of each batch.
    """
    device = torch.device(device) if device is not None else next(method.parameters()).device
    norms = [m for m in method.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    was_training = method.training
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    method.train()
    try:
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size].to(device).float().div_(255)  # (b, C, H, W)
            method.project(x)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        method.train(was_training)


@torch.no_grad()
def _project_views(method: nn.Module, images: torch.Tensor, aug: nn.Module, seed: int, device) -> tuple:
    """z⁽¹⁾, z⁽²⁾ of two augmented views of ``images`` (eval mode, fixed seed, global RNG untouched)."""
    was_training = method.training
    method.eval()
    try:
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            x = images.to(device).float().div_(255)  # (n, C, H, W) in [0, 1]
            z1, z2 = method.project(aug(x)).float().cpu(), method.project(aug(x)).float().cpu()  # (n, d) each
    finally:
        method.train(was_training)
    return z1, z2


def _pair_distance(z: torch.Tensor) -> float:
    """2/(n(n−1)) Σ_{i<j} ‖ẑ_i − ẑ_j‖² = 2 − 2·(‖Σ ẑ‖² − n)/(n(n−1)), without the n × n matrix."""
    u = F.normalize(z.double(), dim=1)  # (n, d)
    n = u.shape[0]
    return float(2 - 2 * (u.sum(dim=0).pow(2).sum() - n) / (n * (n - 1)))


def measure_geometry(
    method: nn.Module,
    images: torch.Tensor,
    *,
    augment_config=None,
    seed: int = 0,
    device=None,
    protected_channels: int = 0,
) -> dict:
    r"""The geometry of ``method``'s embeddings of uint8 ``images`` ``(n, C, H, W)``, as floats and tensors.

    Returns a dict with ``alignment`` (L_align of two augmented views, α = 2), ``uniformity`` (L_uniform
    of the clean z, t = 2), ``pair_distance`` (mean ‖ẑ_i − ẑ_j‖² over i < j), ``std_z`` (the standard
    deviation of each coordinate of the raw z, averaged over coordinates: VICReg's v(Z) watches it),
    ``effective_rank_z`` and ``effective_rank_h``, and the tensors ``z`` ``(n, d)`` and ``h``
    ``(n, feature_dim)`` on the CPU. Views use ``augment_config`` (default ``AugmentConfig.for_size``)
    with the fixed ``seed``, so two epochs are compared on the same images and the same augmentations.
    """
    where = "measure_geometry"
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        _fail("images", where, "a uint8 tensor of shape (n, C, H, W)", f"{type(images).__name__}", TypeError)
    if images.shape[0] < 2:
        _fail("images", where, "at least 2 images", f"shape {tuple(images.shape)}")
    device = torch.device(device) if device is not None else next(method.parameters()).device
    _, channels, size, _ = images.shape
    aug = augment.batched(size, channels, augment_config, protected_channels=protected_channels).to(device)
    z = train.embed_images(method, images, device=device, project=True)  # (n, d)
    h = train.embed_images(method, images, device=device)  # (n, feature_dim)
    z1, z2 = _project_views(method, images, aug, seed, device)  # (n, d) each
    return {
        "alignment": diagnostics.alignment(z1, z2),
        "uniformity": diagnostics.uniformity(z),
        "pair_distance": _pair_distance(z),
        "std_z": float(z.double().std(dim=0).mean()),
        "effective_rank_z": diagnostics.effective_rank(z),
        "effective_rank_h": diagnostics.effective_rank(h),
        "z": z,
        "h": h,
    }


@dataclass
class Run:
    """One training run and its geometry.

    ``history[e]`` merges ``train.fit``'s record of epoch e (loss, knn_accuracy on h, positive_cosine,
    effective_rank, seconds) with ``measure_geometry``'s floats (alignment, uniformity, pair_distance,
    std_z, effective_rank_z, effective_rank_h) and ``knn_z``, the kNN accuracy of the tracked images on ẑ
    (neighbours: the first ``REFERENCE_SIZE`` training images); entry 0 is before training.
    ``snapshots[e]`` is ẑ ``(n, d)`` of the tracked images after epoch e (empty unless requested).
    ``z``, ``h``, ``labels`` are the final projections, features and classes of the tracked images;
    ``linear_accuracy`` is fit's linear probe on h.
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
        keys = (
            "alignment",
            "uniformity",
            "pair_distance",
            "std_z",
            "effective_rank_z",
            "effective_rank_h",
            "knn_z",
            "knn_accuracy",
        )
        return {
            "run": self.name,
            **{k: self.final[k] for k in keys},
            "linear_accuracy": self.linear_accuracy,
            "seconds": self.seconds,
        }


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
        method: a ``methods`` module (or one of this file's), freshly built.
        train_data, eval_data: ``data.ImageTensors``; the first ``track_size`` images of ``eval_data`` are
            the tracked set (never trained on), and fit's linear probe uses all of ``eval_data``.
        epochs, batch_size, lr, weight_decay, augment_config, seed: passed to ``train.fit``.
        name: the run's name in tables and legends.
        snapshots: keep ẑ of the tracked images after every epoch (default: when z has 2 or 3 dimensions,
            for ``viz.plot_circle`` / ``viz.plot_sphere``).
        device: default CUDA when available, else CPU.
        **fit_kwargs: more ``train.fit`` arguments (``samples_per_epoch``, ``warmup_epochs``, ...).

    Returns:
        A ``Run``.
    """
    where = "track_run"
    epochs = check_int(epochs, "epochs", where, minimum=0)
    track_size = check_int(track_size, "track_size", where, minimum=2)
    device = torch.device(device) if device is not None else train._default_device()
    images, labels = eval_data.images[:track_size], eval_data.labels[:track_size]  # (n, C, H, W), (n,)
    reference = train_data.images[:REFERENCE_SIZE]  # (m, C, H, W): the kNN probe's labelled neighbours on z
    reference_labels = train_data.labels[:REFERENCE_SIZE]
    protected = getattr(train_data, "protected_channels", 0)
    geometry: list[dict] = []
    kept: list[torch.Tensor] = []

    def record(_entry=None) -> None:
        g = measure_geometry(
            method,
            images,
            augment_config=augment_config,
            seed=seed,
            device=device,
            protected_channels=protected,
        )
        z_reference = train.embed_images(method, reference, device=device, project=True)  # (m, d)
        g["knn_z"] = probes.knn_probe(
            z_reference, reference_labels, g["z"], labels, k=min(20, len(reference))
        )
        keep = snapshots if snapshots is not None else g["z"].shape[1] <= 3
        if keep:
            kept.append(F.normalize(g["z"], dim=1))  # (n, d) ẑ
        geometry.append(g)

    method.to(device)
    start = time.perf_counter()
    calibrate_batchnorm(method, train_data.images[:REFERENCE_SIZE], device=device)
    record()
    result = train.fit(
        method,
        train_data,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        augment_config=augment_config,
        eval_data=eval_data,
        seed=seed,
        device=device,
        progress=False,
        callback=record,
        **fit_kwargs,
    )
    seconds = time.perf_counter() - start
    floats = [{k: v for k, v in g.items() if not isinstance(v, torch.Tensor)} for g in geometry]
    history = [{**fit_entry, **g} for fit_entry, g in zip(result["history"], floats)]
    config = {
        "method": f"{type(method).__name__}({method.extra_repr()})",
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "augment": augment_config,
    }
    return Run(
        name=name,
        history=history,
        linear_accuracy=result["linear_accuracy"],
        z=geometry[-1]["z"],
        h=geometry[-1]["h"],
        labels=labels.clone(),
        snapshots=kept,
        config=config,
        seconds=seconds,
    )


# ----------------------------------------------------------------------------- the session cache

_SESSION_RUNS: dict[str, Run] = {}


def cached_run(name: str, compute: Callable[[], Run]) -> Run:
    """The run called ``name``: computed by ``compute()`` the first time, then kept for the session.

    ``name`` must identify everything that makes the run (method, hyperparameters, epochs, data), since a
    second call with the same name returns the first result without calling ``compute``.
    """
    if not isinstance(name, str) or not name:
        _fail("name", "cached_run", "a non-empty string", repr(name), TypeError)
    if not callable(compute):
        _fail("compute", "cached_run", "a function returning a Run", type(compute).__name__, TypeError)
    if name not in _SESSION_RUNS:
        run = compute()
        if not isinstance(run, Run):
            _fail(
                "compute",
                "cached_run",
                "a function returning a Run",
                f"one returning {type(run).__name__}",
                TypeError,
            )
        _SESSION_RUNS[name] = run
    return _SESSION_RUNS[name]


def cached_run_names() -> list[str]:
    """Names of the runs kept in this session, in the order they were computed."""
    return list(_SESSION_RUNS)


def clear_cached_runs() -> None:
    """Forget every cached run (to train again, e.g. after changing the data)."""
    _SESSION_RUNS.clear()


# ------------------------------------------------------------------------ the collapse grid (notebook 04)

# Each family's switches and their allowed values; the first value of each is the healthy recipe.
ABLATIONS: dict[str, dict[str, tuple]] = {
    "byol": {
        "predictor": (True, False),
        "stop_gradient": (True, False),
        "base_momentum": (0.99, 0.999, 1.0, 0.0),
    },
    "vicreg": {"variance": (True, False), "covariance": (True, False)},
    "simclr": {"projector": (True, False), "augmentation": ("default", "weak"), "batch_size": (256, 32)},
    "align_uniform": {"uniformity": (True, False)},
}


def _switches(family: str, switches: dict, where: str) -> dict:
    """The family's full switch setting: defaults (the healthy recipe) updated with ``switches``."""
    check_choice(family, "family", where, ABLATIONS)
    allowed = ABLATIONS[family]
    unknown = sorted(set(switches) - set(allowed))
    if unknown:
        _fail("switches", where, f"switches of {family!r} among {sorted(allowed)}", unknown)
    setting = {k: values[0] for k, values in allowed.items()}
    for key, value in switches.items():
        if value not in allowed[key]:
            _fail(key, where, "one of " + ", ".join(repr(v) for v in allowed[key]), repr(value))
        setting[key] = value
    return setting


def ablation_name(family: str, **switches) -> str:
    """A readable, unique name of one point of the grid: "byol · predictor=off · stop_gradient=off"."""
    setting = _switches(family, switches, "ablation_name")
    default = {k: values[0] for k, values in ABLATIONS[family].items()}
    changed = [f"{k}={_show(v)}" for k, v in setting.items() if v != default[k]]
    return " · ".join([family] + (changed or ["healthy"]))


def _show(value) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def build_ablation(
    family: str,
    *,
    in_channels: int = 1,
    width: int = 16,
    out_dim: int = 64,
    hidden_dim: int = 256,
    seed: int = 0,
    **switches,
) -> nn.Module:
    """A fresh method of the collapse grid, seeded (same initial encoder for every switch setting).

    * "byol": ``BYOLAblation(predictor, stop_gradient, base_momentum)``.
    * "vicreg": ``VICReg`` with λ_V = 25 if ``variance`` else 0 and λ_C = 1 if ``covariance`` else 0.
    * "simclr": ``SimCLR`` (τ = 0.5), and ``without_projector`` when ``projector`` is off
      ("augmentation" and "batch_size" act in ``run_ablation``).
    * "align_uniform": ``AlignUniform`` with λ = 1 if ``uniformity`` else 0.
    """
    where = "build_ablation"
    setting = _switches(family, switches, where)
    with torch.random.fork_rng():
        torch.manual_seed(check_int(seed, "seed", where, minimum=0))
        encoder = SmallConvNet(in_channels, width=width)
        head = {"hidden_dim": hidden_dim, "out_dim": out_dim}
        if family == "byol":
            return BYOLAblation(
                encoder,
                **head,
                predictor_hidden_dim=hidden_dim,
                base_momentum=setting["base_momentum"],
                predictor=setting["predictor"],
                stop_gradient=setting["stop_gradient"],
            )
        if family == "vicreg":
            return VICReg(
                encoder,
                **head,
                num_layers=2,
                var_weight=25.0 if setting["variance"] else 0.0,
                cov_weight=1.0 if setting["covariance"] else 0.0,
            )
        if family == "simclr":
            method = SimCLR(encoder, **head, temperature=0.5)
            return method if setting["projector"] else without_projector(method)
        return AlignUniform(encoder, **head, weight=1.0 if setting["uniformity"] else 0.0)


def run_ablation(
    family: str,
    train_data,
    eval_data,
    *,
    epochs: int,
    seed: int = 0,
    lr: float = 2e-3,
    track_size: int = 512,
    width: int = 16,
    out_dim: int = 64,
    hidden_dim: int = 256,
    **switches,
) -> Run:
    """Train one point of the collapse grid (``build_ablation``) with ``track_run``, cached for the session.

    Args:
        family, **switches: the grid point, e.g. ``"byol", predictor=False`` (``ABLATIONS``; the switches
            left out keep their healthy value).
        train_data, eval_data, epochs, seed, lr, track_size: as in ``track_run``.
        width, out_dim, hidden_dim: the encoder width w and the head's output d and hidden width.

    The "simclr" family's ``augmentation="weak"`` trains with ``AugmentConfig.weak()`` (large crops, no
    colour changes) and its ``batch_size`` sets the batch (the learning rate scaled by √(B/256)); every
    other run uses the default augmentation and batches of 256. Returns the ``Run``.
    """
    where = "run_ablation"
    setting = _switches(family, switches, where)
    epochs = check_int(epochs, "epochs", where, minimum=0)
    name = ablation_name(family, **switches)
    key = (
        f"{name} | epochs={epochs} seed={seed} lr={lr} width={width} out_dim={out_dim} "
        f"hidden_dim={hidden_dim} "
        f"train={len(train_data)} eval={len(eval_data)} track={track_size}"
    )
    weak = family == "simclr" and setting["augmentation"] == "weak"
    batch_size = setting["batch_size"] if family == "simclr" else 256

    def compute() -> Run:
        method = build_ablation(
            family,
            in_channels=train_data.images.shape[1],
            width=width,
            out_dim=out_dim,
            hidden_dim=hidden_dim,
            seed=seed,
            **switches,
        )
        config = augment.AugmentConfig.weak() if weak else None
        # 32-image batches: the same number of images per epoch, in smaller steps with a smaller rate
        return track_run(
            method,
            train_data,
            eval_data,
            epochs=epochs,
            name=name,
            batch_size=batch_size,
            lr=lr * math.sqrt(batch_size / 256),
            augment_config=config,
            seed=seed,
            track_size=track_size,
        )

    return cached_run(key, compute)
