"""Notebook 01 explorers and plots: the margin loss, and the InfoNCE bound against the true MI.

The numbers come from ``lessons.infonce``; this module only draws them. ``mi_explorer()`` shows, for
correlated Gaussians with I = −(d/2) log(1 − ρ²), the InfoNCE bound of the optimal critic as a function
of the batch size N next to log N and I: sliders for ρ, d and N. The drawing functions are plain
functions of numbers; ``live_explorer`` wires any of them to sliders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import check_int, fail
from edu_contrast.lessons import infonce as lesson
from edu_contrast.widgets._core import live_explorer

__all__ = ["plot_margin_loss", "plot_infonce_bound", "mi_explorer", "live_explorer"]


def plot_margin_loss(margin: float = 1.0, ax=None, *, max_distance: float = 2.5):
    r"""The pairwise margin loss of one pair against its distance d, from ``lesson.margin_loss_curves``.

    positive pair (y = 1): d²        negative pair (y = 0): max(0, m − d)²
    """
    curves = lesson.margin_loss_curves(margin, max_distance=max_distance)
    margin = float(margin)
    fig, ax = plt.subplots(figsize=(5, 3.2), layout="constrained") if ax is None else (ax.figure, ax)
    ax.plot(curves["distance"], curves["positive"], label="positive pair (y=1): $d^2$")
    ax.plot(curves["distance"], curves["negative"], label="negative pair (y=0): $\\max(0, m-d)^2$")
    ax.axvline(margin, color="grey", linestyle=":", label=f"margin m = {margin:g}")
    ax.set(
        xlabel="distance d = ‖x1 − x2‖",
        ylabel="loss of the pair",
        title="Margin loss: one pair at a time",
        ylim=(0, max(1.5, 1.2 * margin**2)),
    )
    ax.legend(fontsize="small")
    return fig


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
        learned: optional {N: estimate} of trained critics (``lessons.infonce.infonce_vs_batch_size``).
    """
    where = "plot_infonce_bound"
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    max_batch_size = check_int(max_batch_size, "max_batch_size", where, minimum=2)
    true_mi = lesson.gaussian_mutual_information(rho, dim)
    sizes = 2 ** np.arange(1, int(math.log2(max_batch_size)) + 1)  # N = 2, 4, …
    curve = lesson.bound_curve(rho, dim, sizes)
    here = lesson.bound_curve(rho, dim, [batch_size])[0]
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
    if batch_size not in [2**k for k in range(1, 11)]:
        fail("batch_size", "mi_explorer", "a power of two between 2 and 1024", batch_size)
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
