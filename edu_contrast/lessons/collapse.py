r"""Notebook 04: complete and dimensional collapse, and what prevents each in a contrastive method.

For embeddings Z ∈ ℝ^{N×d} with singular values σ_1 ≥ σ_2 ≥ …,

    p_k = σ_k / Σ_l σ_l,    erank(Z) = exp(−Σ_k p_k log p_k)      (Roy & Vetterli 2007)

- complete collapse: every image lands on the same point, Z ≈ 1 cᵀ — read from the *scale*: the points
  are close to each other (uniformity → 0, pair_distance → 0);
- dimensional collapse: the embeddings fill only k < d directions (Hua et al. 2021, Jing et al. 2022) —
  read from the *shape*: the normalised spectrum σ_k/σ_1 drops after σ_k, and erank ≈ k.

``synthetic_embeddings`` makes each kind by construction. The grid ``ABLATIONS`` uses only the losses
of notebooks 01–03: Wang & Isola's alignment with and without the uniformity term
(``methods.AlignUniform``, λ = 1 or 0: complete collapse), and SimCLR with one factor changed at a time —
no projector (``methods.without_projector``), weak augmentation, a small batch (dimensional collapse,
Jing et al. 2022). ``run_ablation`` trains one grid point as a tracked run (``lessons._runs``: erank_z,
erank_h, uniformity, pair_distance, std_z per epoch; epoch 0 is the BatchNorm-calibrated random encoder),
once per session; ``one_factor_effects`` names what section 4's checks assert, each space and each
ablation compared with itself or its baseline. Methods without negatives (BYOL's predictor and
stop-gradient, VICReg's variance and covariance terms) are notebook 06's.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from edu_contrast import augment, methods
from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons._checks import check_effect
from edu_contrast.lessons._runs import Run, track_run

__all__ = [
    "KINDS",
    "synthetic_embeddings",
    "ABLATIONS",
    "ablation_name",
    "switch_label",
    "build_ablation",
    "run_ablation",
    "Run",
    "one_factor_effects",
    "check_effect",
]

KINDS = ("healthy", "dimensional", "complete")

# Each family's switches and their allowed values; the first value of each is the healthy recipe.
ABLATIONS: dict[str, dict[str, tuple]] = {
    "simclr": {"projector": (True, False), "augmentation": ("default", "weak"), "batch_size": (256, 32)},
    "align_uniform": {"uniformity": (True, False)},
}


def synthetic_embeddings(
    kind: str, *, n: int = 512, dim: int = 64, rank: int = 4, noise: float = 0.001, seed: int = 0
) -> torch.Tensor:
    """Made-up float64 embeddings ``(n, dim)`` that show each failure by construction.

    * "healthy": z ~ N(0, I_d), every direction used.
    * "dimensional": z = a Wᵀ + ε with a ~ N(0, I_rank) and W ``(dim, rank)``: only ``rank`` directions used.
    * "complete": z = c + ε, the same point c for every image (‖c‖ = 1).

    ε ~ N(0, noise² I_d) keeps the matrices full rank, as real embeddings are. Keep it small: erank
    uses σ_k, not σ_k², so d − 1 tiny singular values of noise still add up (with noise = 0.02 the
    "complete" matrix already has erank ≈ 20).
    """
    where = "synthetic_embeddings"
    check_choice(kind, "kind", where, KINDS)
    n, dim = check_int(n, "n", where, minimum=2), check_int(dim, "dim", where)
    rank = check_int(rank, "rank", where)
    g = torch.Generator().manual_seed(seed)
    eps = noise * torch.randn(n, dim, generator=g, dtype=torch.float64)  # (n, d)
    if kind == "healthy":
        return torch.randn(n, dim, generator=g, dtype=torch.float64)
    if kind == "dimensional":
        basis = torch.randn(dim, rank, generator=g, dtype=torch.float64) / dim**0.5  # (d, rank)
        return torch.randn(n, rank, generator=g, dtype=torch.float64) @ basis.T + eps  # (n, d)
    point = torch.randn(1, dim, generator=g, dtype=torch.float64)
    return point / point.norm() + eps  # (n, d)


def _switches(family: str, switches: dict, where: str) -> dict:
    """The family's full switch setting: defaults (the healthy recipe) updated with ``switches``."""
    check_choice(family, "family", where, ABLATIONS)
    allowed = ABLATIONS[family]
    unknown = sorted(set(switches) - set(allowed))
    if unknown:
        fail("switches", where, f"switches of {family!r} among {sorted(allowed)}", unknown)
    setting = {k: values[0] for k, values in allowed.items()}
    for key, value in switches.items():
        if value not in allowed[key]:
            fail(key, where, "one of " + ", ".join(repr(v) for v in allowed[key]), repr(value))
        setting[key] = value
    return setting


def switch_label(value) -> str:
    """How a switch value reads in names and buttons: True → "on", False → "off", others as str."""
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def ablation_name(family: str, **switches) -> str:
    """A readable, unique name of one point of the grid: "simclr · projector=off · batch_size=32"."""
    setting = _switches(family, switches, "ablation_name")
    default = {k: values[0] for k, values in ABLATIONS[family].items()}
    changed = [f"{k}={switch_label(v)}" for k, v in setting.items() if v != default[k]]
    return " · ".join([family] + (changed or ["healthy"]))


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
    """A fresh method of the collapse grid (``methods.build_method``), seeded: the same initial encoder
    for every switch setting.

    * "simclr": ``SimCLR`` (τ = 0.5), and ``without_projector`` when ``projector`` is off
      ("augmentation" and "batch_size" act in ``run_ablation``).
    * "align_uniform": ``AlignUniform`` with λ = 1 if ``uniformity`` else 0.
    """
    where = "build_ablation"
    setting = _switches(family, switches, where)
    head = {"hidden_dim": hidden_dim, "out_dim": out_dim}
    if family == "simclr":
        name, hyper = "simclr", {"temperature": 0.5}
    else:
        name, hyper = "align_uniform", {"weight": 1.0 if setting["uniformity"] else 0.0}
    with torch.random.fork_rng():
        torch.manual_seed(check_int(seed, "seed", where, minimum=0))
        method = methods.build_method(name, in_channels=in_channels, width=width, **head, **hyper)
    if family == "simclr" and not setting["projector"]:
        return methods.without_projector(method)
    return method


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
    """Train one point of the collapse grid (``build_ablation``) with ``track_run``, once per session.

    Args:
        family, **switches: the grid point, e.g. ``"simclr", projector=False`` (``ABLATIONS``; the switches
            left out keep their healthy value).
        train_data, eval_data, epochs, seed, lr, track_size: as in ``track_run``.
        width, out_dim, hidden_dim: the encoder width w and the head's output d and hidden width.

    The "simclr" family's ``augmentation="weak"`` trains with ``weak_recipe`` (the default recipe with
    large crops and no colour changes) and its ``batch_size`` sets the batch B (the learning rate scaled by
    √(B/256)); every other run uses the default augmentation and batches of 256.
    """
    where = "run_ablation"
    setting = _switches(family, switches, where)
    epochs = check_int(epochs, "epochs", where, minimum=0)
    name = ablation_name(family, **switches)
    sizes = {"width": width, "out_dim": out_dim, "hidden_dim": hidden_dim}
    weak = family == "simclr" and setting["augmentation"] == "weak"
    batch_size = setting["batch_size"] if family == "simclr" else 256
    data_sizes = {"train": len(train_data), "eval": len(eval_data), "track": track_size}
    key = cache_key(run_ablation, name=name, epochs=epochs, seed=seed, lr=lr, **sizes, **data_sizes)

    def compute() -> Run:
        channels = train_data.images.shape[1]
        method = build_ablation(family, in_channels=channels, seed=seed, **sizes, **switches)
        # batches of 32: the same number of images per epoch, in smaller steps with a smaller rate
        return track_run(
            method,
            train_data,
            eval_data,
            epochs=epochs,
            name=name,
            batch_size=batch_size,
            lr=lr * math.sqrt(batch_size / 256),
            augment_config=weak_recipe(train_data.images.shape[-1]) if weak else None,
            seed=seed,
            track_size=track_size,
        )

    return cached(key, compute)


def weak_recipe(side: int) -> augment.AugmentConfig:
    """The default recipe for images of this side (``AugmentConfig.for_size``) with large crops (≥ 80 % of the
    area) and no colour changes: only the strength changes. ``AugmentConfig.weak()`` would also mirror the
    views, which the defaults for sides ≤ 16 never do (a mirrored digit is another shape)."""
    return dataclasses.replace(
        augment.AugmentConfig.for_size(side), crop_scale=(0.8, 1.0), jitter_p=0.0, grayscale_p=0.0
    )


def one_factor_effects(runs: dict) -> dict:
    r"""Section 4's effects, each > 0 when the taught effect is there; every one compares like with like.

    ``runs`` maps "baseline", "no projector", "weak augmentation" to ``Run``s of ``run_ablation``
    (final = after the last epoch, start = epoch 0, the calibrated random encoder):

    * "projector: erank kept, h − z" = erank_h(final)/erank_h(start) − erank_z(final)/erank_z(start) of
      the baseline: training takes a larger share of z's effective rank than of h's, each space measured
      against itself (z has d = 64 dimensions and h 128, so their raw eranks are not comparable). Exactly
      0 without a projector (z = h);
    * "no projector: erank(h) lost" = 1 − erank_h(no projector)/erank_h(baseline), the same 128-d space;
    * "no projector: kNN on h lost" = knn(baseline) − knn(no projector), the kNN accuracy on h;
    * "weak augmentation: erank(z) gained" = erank_z(weak)/erank_z(baseline) − 1, the same 64-d space;
    * "kNN on h: baseline − random encoder" = knn(final) − knn(start) of the baseline.
    """
    missing = sorted({"baseline", "no projector", "weak augmentation"} - set(runs))
    if missing:
        expected = "a dict with the runs 'baseline', 'no projector', 'weak augmentation'"
        fail("runs", "one_factor_effects", expected, f"no {missing}")
    base, start = runs["baseline"].final, runs["baseline"].history[0]
    final = {name: run.final for name, run in runs.items()}

    def kept(run: Run, space: str) -> float:
        return run.final[f"erank_{space}"] / run.history[0][f"erank_{space}"]

    return {
        "projector: erank kept, h − z": kept(runs["baseline"], "h") - kept(runs["baseline"], "z"),
        "no projector: erank(h) lost": 1 - final["no projector"]["erank_h"] / base["erank_h"],
        "no projector: kNN on h lost": base["knn_accuracy"] - final["no projector"]["knn_accuracy"],
        "weak augmentation: erank(z) gained": final["weak augmentation"]["erank_z"] / base["erank_z"] - 1,
        "kNN on h: baseline − random encoder": base["knn_accuracy"] - start["knn_accuracy"],
    }
