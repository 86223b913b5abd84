"""Notebook 13's plots and explorers: false negatives, the debiased estimate (τ⁺), hard-negative weights (β).

Every function draws what ``lessons.negatives`` computed; nothing here trains or measures.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from edu_contrast._validation import fail
from edu_contrast.lessons.negatives import log_ratio, same_class_share
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "plot_false_negatives",
    "nearest",
    "plot_tau_plus",
    "tau_plus_explorer",
    "plot_weights",
    "beta_explorer",
    "plot_comparison",
    "plot_graph",
]


def plot_false_negatives(rows: Mapping[str, Mapping[str, float]]):
    """Bars per stand-in: the measured share of same-class negatives, τ⁺ and 1/C.

    ``rows``: ``{name: {"measured": float, "prior": float, "1/C": float}}``.
    """
    if not rows:
        fail("rows", "plot_false_negatives", "at least one stand-in", "an empty dict")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    width = 0.26
    for j, key in enumerate(("measured", "prior", "1/C")):
        label = {"measured": "measured in batches", "prior": "τ⁺ = Σ n_c(n_c−1)/(n(n−1))", "1/C": "1/C"}[key]
        ax.bar([i + (j - 1) * width for i in range(len(rows))], [r[key] for r in rows.values()], width,
               label=label)  # fmt: skip
    ax.set_xticks(range(len(rows)), list(rows))
    ax.set(ylabel="share of the 2N − 2 negatives", title="negatives that share the anchor's class")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def nearest(grid, value: float) -> float:
    """The key of ``grid`` (numbers) closest to ``value``: a slider position → a precomputed result."""
    keys = list(grid)
    if not keys:
        fail("grid", "nearest", "at least one precomputed value", "an empty grid")
    return min(keys, key=lambda k: abs(k - value))


def plot_tau_plus(sums: Mapping, tau_plus: float, *, prior: float | None = None):
    """Left: N_g at ``tau_plus`` against the true negative sum, per anchor (the raw sum in grey);
    right: mean log(N_g / true) over the τ⁺ of ``sums["estimate"]``, 0 where the estimate is unbiased."""
    tau_plus = nearest(sums["estimate"], tau_plus)
    true, estimate = sums["true"], sums["estimate"][tau_plus]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.loglog(true, sums["raw"], ".", color="grey", alpha=0.3, ms=3, label="τ⁺ = 0: Σ_k over all negatives")
    left.loglog(true, estimate, ".", color="C3", alpha=0.5, ms=3, label=f"N_g at τ⁺ = {tau_plus:.2f}")
    low, high = float(true.min()), float(true.max())
    left.plot([low, high], [low, high], "k--", lw=1, label="estimate = true")
    left.set(xlabel="true: M · mean of e^{s/τ} over other-class negatives", ylabel="estimate",
             title="each dot: one anchor")  # fmt: skip
    left.legend(fontsize="x-small")
    grid = sorted(sums["estimate"])
    bias = [log_ratio(sums["estimate"][t], true) for t in grid]
    right.plot(grid, bias, "o-", ms=3)
    right.axhline(0, color="k", lw=1)
    right.axvline(tau_plus, color="C3", lw=1.5, label="slider")
    if prior is not None:
        right.axvline(prior, color="grey", ls=":", label=f"class prior {prior:.2f}")
    right.set(xlabel="τ⁺", ylabel="mean log(N_g / true)", title="bias of the negative term")
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig


def tau_plus_explorer(sums: Mapping, *, prior: float | None = None, tau_plus: float = 0.0):
    """A τ⁺ slider over the precomputed estimates of ``lessons.negatives.negative_sums``."""
    grid = sorted(sums["estimate"])
    step = (grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    slider = widgets.FloatSlider(value=nearest(grid, tau_plus), min=grid[0], max=grid[-1], step=step,
                                 description="τ⁺", continuous_update=False)  # fmt: skip
    return live_explorer(lambda tau_plus: plot_tau_plus(sums, tau_plus, prior=prior), {"tau_plus": slider})


def plot_weights(sims: Mapping, weights: Mapping, beta: float, *, anchors: int = 48):
    """Left: w_ik·M (1 = a uniform weight) against s_ik for the first ``anchors`` anchors, false negatives
    in red; right: the share of weight on false negatives against β."""
    beta = nearest(weights, beta)
    shown = slice(0, anchors)
    s, same = sims["neg"][shown], sims["same"][shown]
    w = weights[beta][shown] * s.shape[1]  # (anchors, M), 1 = uniform
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.semilogy(s[~same], w[~same], ".", ms=2, alpha=0.4, color="C0", label="other class")
    left.semilogy(s[same], w[same], ".", ms=2, alpha=0.5, color="C3", label="same class (false negative)")
    left.axhline(1, color="k", lw=1)
    left.set(xlabel="similarity s_ik", ylabel="weight × M (1: NT-Xent's)", title=f"β = {beta:g}")
    left.legend(fontsize="x-small", markerscale=4)
    betas = sorted(weights)
    right.plot(betas, [same_class_share(weights[b], sims["same"]) for b in betas], "o-", ms=3)
    right.axvline(beta, color="C3", lw=1.5)
    right.set(
        xlabel="β", ylabel="weight on same-class negatives", title="hard negatives are more often false"
    )
    fig.tight_layout()
    return fig


def beta_explorer(sims: Mapping, weights: Mapping, *, beta: float = 0.0):
    """A β slider over precomputed hard-negative weights ``{β: (2N, M)}``."""
    grid = sorted(weights)
    step = (grid[-1] - grid[0]) / max(len(grid) - 1, 1)
    slider = widgets.FloatSlider(value=nearest(grid, beta), min=grid[0], max=grid[-1], step=step,
                                 description="β", continuous_update=False)  # fmt: skip
    return live_explorer(lambda beta: plot_weights(sims, weights, beta), {"beta": slider})


def plot_comparison(table: Mapping, *, baseline: float | None = None, metric: str = "linear"):
    """One dot per (method, seed) and the mean as a bar: ``compare_methods``'s ``metric``."""
    if not table:
        fail("table", "plot_comparison", "a compare_methods result", "an empty dict")
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for i, runs in enumerate(table.values()):
        values = [r[metric] for r in runs.values()]
        ax.bar(i, sum(values) / len(values), 0.6, color=f"C{i}", alpha=0.5)
        ax.plot([i] * len(values), values, "ko", ms=4)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls=":", label="random encoder")
        ax.legend(fontsize="small")
    values = [r[metric] for runs in table.values() for r in runs.values()]
    low = min(values + ([baseline] if baseline is not None else []))
    ax.set_ylim(low - 0.05, min(1.0, max(values) + 0.03))
    ax.set_xticks(range(len(table)), list(table), fontsize="small")
    ax.set(ylabel=f"{metric} probe accuracy of h", title="one budget, one dot per seed")
    fig.tight_layout()
    return fig


def plot_graph(a: torch.Tensor, component: torch.Tensor, f: torch.Tensor, eigenvalues: torch.Tensor):
    """The adjacency A, the spectrum of Ā and the minimiser f (its first two columns), nodes coloured by
    component."""
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.8))
    left.imshow(a, cmap="Greys")
    left.set(title="augmentation graph A (w_xx')", xlabel="node x'", ylabel="node x")
    middle.plot(range(1, len(eigenvalues) + 1), eigenvalues, "o-", ms=4)
    middle.set(xlabel="j", ylabel="λ_j of Ā", title="spectrum: one λ = 1 per component")
    points = right.scatter(f[:, 0], f[:, 1], c=component, cmap="tab10", vmin=0, vmax=9, s=40)
    right.set(xlabel="f₁", ylabel="f₂", title="spectral-loss minimiser f(x)")
    right.legend(*points.legend_elements(), title="component", fontsize="x-small")
    fig.tight_layout()
    return fig
