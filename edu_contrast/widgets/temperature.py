"""Notebook 02 explorer: what the temperature τ does to the softmax over negatives and to the gradient.

For one anchor with positive similarity s⁺ and negative similarities s⁻_1 … s⁻_M, the InfoNCE loss is

    ℓ = −s⁺/τ + log( exp(s⁺/τ) + Σ_m exp(s⁻_m/τ) ),

and its gradient pushes negative k away with the weight

    ∂ℓ/∂s⁻_k = p_k / τ,    p_k = exp(s⁻_k/τ) / ( exp(s⁺/τ) + Σ_m exp(s⁻_m/τ) ),

so a small τ puts almost all of the push on the few hardest (most similar) negatives and a large τ
spreads it evenly (Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss", CVPR, Sec. 3.1:
the "hardness-aware" property). ``temperature_explorer()`` has sliders for τ and the batch size N
(M = 2N − 2 negatives, as in NT-Xent) over one fixed batch of similarities.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from edu_contrast import diagnostics
from edu_contrast._validation import _fail, check_embeddings, check_int, check_positive
from edu_contrast.widgets._core import live_explorer, log_slider

__all__ = [
    "similarity_batch",
    "negative_weights",
    "temperature_summary",
    "plot_temperature",
    "temperature_explorer",
    "top_eigenvalue_ratio",
    "plot_temperature_sweep",
    "MAX_BATCH_SIZE",
]

MAX_BATCH_SIZE = 1024


def similarity_batch(
    batch_size: int = MAX_BATCH_SIZE, *, dim: int = 32, hard_fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """One anchor's similarities in an NT-Xent batch of N samples: s⁺ and the M = 2N − 2 negatives s⁻.

    Unit vectors in d = ``dim`` dimensions: the anchor ẑ, its positive (a noisy copy of ẑ), and negatives
    of which a fraction ``hard_fraction`` belong to the anchor's class (noisy copies of a class centre
    close to ẑ: the hard negatives) and the rest point anywhere. The draw for N is the first 2N − 2
    negatives of the draw for ``MAX_BATCH_SIZE`` with the same seed, so moving N keeps the batch fixed.

    Returns:
        ``(positive, negatives)``: a 0-dim float64 tensor s⁺ and a ``(2N − 2,)`` float64 tensor s⁻.
    """
    where = "similarity_batch"
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    if batch_size > MAX_BATCH_SIZE:
        _fail("batch_size", where, f"<= {MAX_BATCH_SIZE}", batch_size)
    hard_fraction = check_positive(hard_fraction, "hard_fraction", where, allow_zero=True)
    g = torch.Generator().manual_seed(seed)
    pool = 2 * MAX_BATCH_SIZE - 2
    unit = lambda *shape: F.normalize(torch.randn(*shape, dim, generator=g, dtype=torch.float64), dim=-1)
    anchor = unit()  # (d,)
    positive = F.normalize(anchor + 0.4 * unit(), dim=-1)  # (d,) cos ≈ 0.93
    centre = F.normalize(anchor + 0.9 * unit(), dim=-1)  # (d,) the anchor's class, cos ≈ 0.74
    hard = F.normalize(centre + 0.8 * unit(pool), dim=-1)  # (pool, d) same class as the anchor
    easy = unit(pool)  # (pool, d) other classes
    is_hard = torch.rand(pool, generator=g) < hard_fraction  # (pool,)
    negatives = torch.where(is_hard[:, None], hard, easy)  # (pool, d)
    return positive @ anchor, (negatives @ anchor)[: 2 * batch_size - 2]


def _check_similarities(positive, negatives, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    for name, value in (("positive", positive), ("negatives", negatives)):
        if not isinstance(value, torch.Tensor) or not torch.is_floating_point(value):
            _fail(name, where, "a floating-point torch.Tensor", type(value).__name__, TypeError)
    if negatives.dim() == 0 or negatives.shape[-1] < 1:
        _fail("negatives", where, "a tensor of shape (..., M) with M >= 1", f"shape {tuple(negatives.shape)}")
    if positive.shape != negatives.shape[:-1]:
        _fail(
            "positive",
            where,
            f"shape {tuple(negatives.shape[:-1])} (one s⁺ per row of 'negatives')",
            f"shape {tuple(positive.shape)}",
        )
    return positive, negatives


def negative_weights(positive: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""p_k = exp(s⁻_k/τ) / (exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)): the softmax weight of each negative, = τ ∂ℓ/∂s⁻_k.

    Computed as a softmax over [s⁺, s⁻_1, …, s⁻_M] / τ (stable for τ → 0) without the positive's column.
    Wang & Liu 2021, Eq. 4–5 (their P_{i,j}).

    Args:
        positive: s⁺, shape ``(...)`` (0-dim for one anchor, ``(N,)`` for N anchors).
        negatives: s⁻, shape ``(..., M)``.
        temperature: τ > 0.

    Returns:
        ``(..., M)`` weights; each row sums to 1 − p⁺ < 1 (the rest is the positive's share).
    """
    where = "negative_weights"
    temperature = check_positive(temperature, "temperature", where)
    positive, negatives = _check_similarities(positive, negatives, where)
    logits = torch.cat([positive.unsqueeze(-1), negatives], dim=-1) / temperature  # (..., 1 + M)
    return torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)[..., 1:]


def temperature_summary(
    positive: torch.Tensor, negatives: torch.Tensor, temperature: float, *, hardest: float = 0.05
) -> dict:
    r"""Numbers for one anchor at temperature τ.

    Returns a dict of floats:
        ``loss``: ℓ = −log p⁺;
        ``positive_weight``: p⁺, and ``positive_gradient``: |∂ℓ/∂s⁺| = (1 − p⁺)/τ;
        ``entropy``: H(q) in nats of the negatives' share q_k = p_k / Σ_m p_m of the push, and
        ``entropy_ratio``: H(q) / log M (1 = every negative pushed equally);
        ``hardest_share``: Σ q_k over the ⌈``hardest``·M⌉ most similar negatives;
        ``effective_negatives``: exp(H(q)), how many negatives effectively receive gradient.
    """
    where = "temperature_summary"
    hardest = check_positive(hardest, "hardest", where)
    if positive.dim() != 0:
        _fail("positive", where, "a 0-dim tensor (one anchor)", f"shape {tuple(positive.shape)}")
    p = negative_weights(positive, negatives, temperature).double()  # (M,)
    p_positive = 1.0 - float(p.sum())
    q = p / p.sum()  # (M,) share of the push on each negative
    entropy = float(torch.special.entr(q).sum())
    top = max(1, math.ceil(min(hardest, 1.0) * len(q)))
    temperature = float(temperature)
    lse = torch.logsumexp(torch.cat([positive[None], negatives]).double() / temperature, dim=0)
    return {
        "temperature": temperature,
        "loss": float(lse - positive.double() / temperature),
        "positive_weight": p_positive,
        "positive_gradient": (1.0 - p_positive) / temperature,
        "entropy": entropy,
        "entropy_ratio": entropy / math.log(len(q)) if len(q) > 1 else 1.0,
        "hardest_share": float(q.sort(descending=True).values[:top].sum()),
        "effective_negatives": math.exp(entropy),
    }


def plot_temperature(
    temperature: float = 0.2, batch_size: int = 128, *, similarities=None, hardest: float = 0.05
):
    r"""Two panels for one anchor: the weight p_k of every negative against its similarity, and the share of
    the gradient on the hardest negatives (cumulative, hardest first), at temperature τ and batch size N.

    ``similarities`` = ``(positive, negatives)`` of a full ``MAX_BATCH_SIZE`` batch (default
    ``similarity_batch()``); the first 2N − 2 negatives are used.
    """
    where = "plot_temperature"
    temperature = check_positive(temperature, "temperature", where)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    positive, pool = similarities if similarities is not None else similarity_batch()
    if 2 * batch_size - 2 > pool.shape[-1]:
        _fail("batch_size", where, f"<= {pool.shape[-1] // 2 + 1} for these similarities", batch_size)
    negatives = pool[: 2 * batch_size - 2]  # (M,) M = 2N − 2
    p = negative_weights(positive, negatives, temperature).numpy()
    stats = temperature_summary(positive, negatives, temperature, hardest=hardest)
    order = np.argsort(-negatives.numpy())  # hardest first
    share = np.cumsum(p[order]) / p.sum()  # (M,)
    fraction = np.arange(1, len(p) + 1) / len(p)

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.scatter(negatives.numpy(), p, s=10, color="tab:blue", label="negatives $p_k$")
    left.scatter(
        [float(positive)],
        [max(stats["positive_weight"], 1e-6)],
        marker="*",
        s=150,
        color="tab:red",
        zorder=3,
        label=f"positive: $s^+$ = {float(positive):.2f}, $p^+$ = {stats['positive_weight']:.2f}",
    )
    left.set_yscale("log")
    left.set_ylim(1e-6, 1.0)  # fixed, so the slope 1/τ of log p_k against s⁻_k can be compared
    left.set(
        xlabel="similarity $s^-_k$ of the negative",
        ylabel="softmax weight $p_k$ = τ·∂ℓ/∂$s^-_k$",
        title=f"τ = {temperature:.3f}, N = {batch_size} (M = {len(p)} negatives), "
        f"loss ℓ = {stats['loss']:.2f}",
    )
    left.legend(fontsize="small", loc="lower right")
    right.plot(fraction, share, color="tab:blue", label="share of the push, hardest first")
    right.plot([0, 1], [0, 1], "k:", label="every negative equal")
    right.axvline(
        hardest,
        color="tab:orange",
        linestyle="--",
        label=f"hardest {hardest:.0%}: {stats['hardest_share']:.0%} of the push",
    )
    right.set(
        xlabel="fraction of negatives, most similar first",
        ylabel="cumulative share of Σ p_k",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"entropy H(q) = {stats['entropy']:.2f} nats = {stats['entropy_ratio']:.0%} of log M",
    )
    right.legend(fontsize="small", loc="lower right")
    return fig


def temperature_explorer(temperature: float = 0.2, batch_size: int = 128, *, seed: int = 0):
    """Sliders "τ" (log scale, 0.01–1) and "batch N" (8–1024) over ``plot_temperature`` on one fixed batch."""
    import ipywidgets as widgets

    similarities = similarity_batch(seed=seed)
    style = {"description_width": "initial"}
    controls = {
        "temperature": log_slider(temperature, -2, 0, "τ", step=0.05, readout_format=".3f"),
        "batch_size": widgets.IntSlider(
            value=batch_size,
            min=8,
            max=MAX_BATCH_SIZE,
            step=8,
            description="batch N",
            continuous_update=False,
            style=style,
        ),
    }
    draw = lambda temperature, batch_size: plot_temperature(
        temperature, batch_size, similarities=similarities
    )
    return live_explorer(draw, controls)


def top_eigenvalue_ratio(z: torch.Tensor, k: int = 5) -> float:
    r"""Σ_{i≤k} λ_i / Σ_i λ_i: the share of the variance of ẑ in its top k principal directions.

    λ_i = σ_i² / (N − 1) are the eigenvalues of the covariance of the normalised embeddings ẑ = z/‖z‖,
    with σ from ``diagnostics.singular_spectrum``. Near 1: a sharp spectrum (a few directions carry
    everything, the symptom of dimensional collapse); near k/d: a flat one.
    """
    where = "top_eigenvalue_ratio"
    check_embeddings(z, "z", where, min_rows=2)
    k = check_int(k, "k", where)
    sigma = diagnostics.singular_spectrum(F.normalize(z.detach().double(), dim=1))  # (min(N, d),)
    eigenvalues = sigma.pow(2)  # ∝ λ_i; the 1/(N − 1) cancels in the ratio
    return float(eigenvalues[:k].sum() / eigenvalues.sum())


_SWEEP_PANELS = (
    ("alignment", "alignment $L_{align}$ (lower: positives closer)"),
    ("uniformity", "uniformity $L_{uniform}$ (lower: more uniform)"),
    ("effective_rank", "effective rank of z"),
    (("knn_accuracy", "linear_accuracy"), "probe accuracy on h"),
)


def plot_temperature_sweep(rows):
    """Four panels against τ (log axis): alignment, uniformity, effective rank, kNN and linear accuracy.

    ``rows`` is a list of dicts with the key ``temperature`` and the keys of ``_SWEEP_PANELS`` (one dict
    per trained model, as built in notebook 02).
    """
    where = "plot_temperature_sweep"
    if not rows or not all(isinstance(r, dict) and "temperature" in r for r in rows):
        _fail("rows", where, "a non-empty list of dicts with a 'temperature' key", repr(rows)[:80])
    rows = sorted(rows, key=lambda r: r["temperature"])
    tau = [r["temperature"] for r in rows]
    fig, axes = plt.subplots(1, len(_SWEEP_PANELS), figsize=(15, 3.4), layout="constrained")
    for ax, (keys, title) in zip(axes, _SWEEP_PANELS):
        for key in (keys,) if isinstance(keys, str) else keys:
            if key not in rows[0]:
                _fail("rows", where, f"dicts with the key {key!r}", f"keys {sorted(rows[0])}")
            ax.plot(tau, [r[key] for r in rows], "o-", label=key.replace("_", " "))
        ax.set_xscale("log")
        ax.set(xlabel="temperature τ", title=title)
        if not isinstance(keys, str):
            ax.legend(fontsize="small")
    return fig
