"""Notebook 01 explorers and plots: the margin loss, and the InfoNCE bound against the true MI.

``mi_explorer()`` shows, for correlated Gaussians with I = −(d/2) log(1 − ρ²), the InfoNCE bound of the
optimal critic as a function of the batch size N next to log N and I: sliders for ρ, d and N. The
drawing functions are plain functions of numbers; ``live_explorer`` wires any of them to sliders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from edu_contrast import losses
from edu_contrast._validation import _fail, check_int, check_positive
from edu_contrast.mutual_information import estimate_mi, gaussian_mutual_information
from edu_contrast.widgets._core import live_explorer

__all__ = ["plot_margin_loss", "plot_infonce_bound", "bound_curve", "mi_explorer", "live_explorer"]


def plot_margin_loss(margin: float = 1.0, ax=None, *, max_distance: float = 2.5):
    r"""The pairwise margin loss of one pair against its distance d (Chopra 2005; Hadsell 2006, Eq. 4).

        positive pair (y = 1): d²        negative pair (y = 0): max(0, m − d)²

    computed with ``losses.margin_contrastive`` on pairs placed d apart. ``margin`` is m.
    """
    margin = check_positive(margin, "margin", "plot_margin_loss")
    distance = torch.linspace(0, max_distance, 101, dtype=torch.float64)  # (101,)
    x1 = torch.zeros(len(distance), 1, dtype=torch.float64)  # (101, 1): pairs on a line, d apart
    x2 = distance[:, None]  # (101, 1)
    curves = {}
    for label, y in (("positive pair (y=1): $d^2$", 1), ("negative pair (y=0): $\\max(0, m-d)^2$", 0)):
        is_positive = torch.full((1,), y)
        curves[label] = [
            float(losses.margin_contrastive(a[None], b[None], is_positive, margin=margin))
            for a, b in zip(x1, x2)
        ]
    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained") if ax is None else (ax.figure, ax)
    for label, values in curves.items():
        ax.plot(distance.numpy(), values, label=label)
    ax.axvline(margin, color="grey", linestyle=":", label=f"margin m = {margin:g}")
    ax.set(
        xlabel="distance d = ‖x1 − x2‖",
        ylabel="loss of the pair",
        title="Margin loss: one pair at a time",
        ylim=(0, max(1.5, 1.2 * margin**2)),
    )
    ax.legend(fontsize="small")
    return fig


def bound_curve(rho: float, dim: int, batch_sizes, *, samples: int = 8192, seed: int = 0) -> np.ndarray:
    """The optimal critic's InfoNCE estimate I_NCE(N) in nats for each N in ``batch_sizes`` (one seed)."""
    return np.array(
        [
            estimate_mi(
                None,
                rho=rho,
                dim=dim,
                batch_size=int(n),
                samples=samples,
                generator=torch.Generator().manual_seed(seed),
            )
            for n in batch_sizes
        ]
    )


def plot_infonce_bound(
    rho: float = 0.7,
    dim: int = 10,
    batch_size: int = 64,
    ax=None,
    *,
    max_batch_size: int = 1024,
    learned: Mapping[int, float] | None = None,
):
    r"""I_NCE of the optimal critic against the batch size N, with its two ceilings: log N and I.

        I_NCE(N) ≤ log N (always)    and    I_NCE(N) ≤ I = −(d/2) log(1 − ρ²) (in expectation)

    Args:
        rho: ρ. dim: d. batch_size: the N to highlight.
        max_batch_size: the curve runs over N = 2, 4, …, max_batch_size.
        learned: optional {N: estimate} of trained critics (``mutual_information.infonce_vs_batch_size``).
    """
    where = "plot_infonce_bound"
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    max_batch_size = check_int(max_batch_size, "max_batch_size", where, minimum=2)
    true_mi = gaussian_mutual_information(rho, dim)
    sizes = 2 ** np.arange(1, int(math.log2(max_batch_size)) + 1)  # N = 2, 4, …
    curve = bound_curve(rho, dim, sizes)
    here = bound_curve(rho, dim, [batch_size])[0]
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained") if ax is None else (ax.figure, ax)
    ax.plot(sizes, np.log(sizes), "k--", label="log N (the ceiling of any critic)")
    ax.axhline(true_mi, color="tab:red", linestyle=":", label=f"true MI I = {true_mi:.2f} nats")
    ax.plot(sizes, curve, "o-", color="tab:blue", label="InfoNCE, optimal critic")
    if learned:
        ns = sorted(learned)
        ax.plot(ns, [learned[n] for n in ns], "s-", color="tab:green", label="InfoNCE, trained critic")
    ax.plot(
        [batch_size],
        [here],
        "*",
        color="tab:orange",
        markersize=16,
        zorder=5,
        label=f"N = {batch_size}: {here:.2f} nats",
    )
    ax.set_xscale("log", base=2)
    ax.set(
        xlabel="batch size N (1 positive + N − 1 negatives)",
        ylabel="nats",
        title=f"ρ = {rho:.2f}, d = {dim}: a tight bound needs N ≫ e^I ≈ {math.exp(min(true_mi, 30)):.3g}",
        ylim=(0, max(true_mi, math.log(sizes[-1])) * 1.08),
    )
    ax.legend(fontsize="small", loc="upper left")
    return fig


def mi_explorer(rho: float = 0.7, dim: int = 10, batch_size: int = 64):
    """Sliders for ρ, d and N over ``plot_infonce_bound``: where does InfoNCE stop following the true MI?"""
    import ipywidgets as widgets

    if batch_size not in [2**k for k in range(1, 11)]:
        _fail("batch_size", "mi_explorer", "a power of two between 2 and 1024", batch_size)
    style = {"description_width": "initial"}
    controls = {
        "rho": widgets.FloatSlider(
            value=rho, min=0.05, max=0.95, step=0.05, description="ρ", continuous_update=False, style=style
        ),
        "dim": widgets.IntSlider(
            value=dim, min=1, max=20, description="d", continuous_update=False, style=style
        ),
        "batch_size": widgets.SelectionSlider(
            options=[2**k for k in range(1, 11)],
            value=batch_size,
            description="N",
            continuous_update=False,
            style=style,
        ),
    }
    return live_explorer(plot_infonce_bound, controls)
