r"""Notebook 07 explorers: class collapse towards a regular simplex, and label noise.

With labels, SupCon's minimisers put each class on one point of the sphere and the C class means on a
regular simplex (Graf et al. 2021): centred class means with pairwise cosine −1/(C−1), within-class
spread 0. The measures come from ``lessons.supcon``; the plots here only draw them:

* ``plot_class_geometry``: the centred class-mean cosine matrix of each method, and where its
  off-diagonal cosines fall against −1/(C−1);
* ``plot_simplex_toy`` / ``simplex_explorer``: SupCon minimised over free points on the circle or the
  sphere, live (C classes, dimension, temperature);
* ``plot_label_noise`` / ``noise_explorer``: accuracy and spread of runs trained with a fraction of
  flipped labels, a slider over the noise rates already trained.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from edu_contrast import viz
from edu_contrast._validation import check_choice, check_int, check_positive, fail
from edu_contrast.lessons import supcon as lesson
from edu_contrast.widgets._core import live_explorer, log_slider

__all__ = [
    "plot_class_geometry",
    "plot_simplex_toy",
    "simplex_explorer",
    "plot_label_noise",
    "noise_explorer",
    "NOISE_METRICS",
]

NOISE_METRICS = {
    "knn_accuracy": "kNN accuracy on clean test labels",
    "linear_accuracy": "linear-probe accuracy on clean test labels",
    "spread": "within-class spread of test ẑ",
}


def plot_class_geometry(embeddings: Mapping[str, torch.Tensor], labels):
    r"""One cosine matrix cos(μ_c − μ̄, μ_{c'} − μ̄) per method, then all off-diagonal cosines against −1/(C−1).

    Args:
        embeddings: name → z ``(N, d)`` of the same N images (e.g. ``{"SupCon": z, "SimCLR": z}``).
        labels: y ``(N,)``, the images' classes.
    """
    where = "plot_class_geometry"
    if not isinstance(embeddings, Mapping) or not embeddings:
        fail(
            "embeddings", where, "a non-empty dict name → (N, d) tensor", type(embeddings).__name__, TypeError
        )
    n = len(embeddings)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.4 * n + 4.2, 3.6), layout="constrained")
    target = None
    for position, (ax, (name, z)) in enumerate(zip(axes, embeddings.items())):
        cosines = lesson.centred_mean_cosines(z, labels)  # (C, C)
        target = lesson.simplex_cosine(cosines.shape[0])
        numbers = lesson.class_geometry(z, labels)
        image = ax.imshow(cosines.numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set(
            title=f"{name}\nspread {numbers['spread']:.3f}\n"
            f"simplex deviation {numbers['simplex_deviation']:.3f}",
            xlabel="class c′",
            ylabel="class c" if position == 0 else None,
        )
        offsets = lesson.off_diagonal(cosines).numpy()
        axes[-1].scatter(
            offsets, np.full(len(offsets), position) + np.linspace(-0.25, 0.25, len(offsets)), s=8, alpha=0.6
        )
    fig.colorbar(image, ax=axes[:-1], shrink=0.8, label="cosine of centred class means")
    axes[-1].axvline(target, color="black", linestyle="--", label=f"regular simplex −1/(C−1) = {target:.3f}")
    axes[-1].set(
        yticks=range(n),
        yticklabels=list(embeddings),
        xlim=(-1.05, 1.05),
        xlabel="off-diagonal cosines",
        title="all class pairs",
    )
    axes[-1].legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return fig


def plot_simplex_toy(
    num_classes: int = 4, dim: int = 3, temperature: float = 0.5, *, steps: int = 200, seed: int = 0
):
    """SupCon minimised over free points (``lesson.simplex_toy``), drawn on the circle or the sphere.

    Left: the points ẑ coloured by class; right: the centred class-mean cosines against −1/(C−1).

    Args:
        num_classes: C ≥ 2.  dim: 2 (circle) or 3 (sphere).  temperature: τ > 0.  steps: Adam steps.
    """
    where = "plot_simplex_toy"
    num_classes = check_int(num_classes, "num_classes", where, minimum=2)
    check_choice(dim, "dim", where, (2, 3))
    temperature = check_positive(temperature, "temperature", where)
    toy = lesson.simplex_toy(num_classes, dim, temperature, steps=steps, seed=seed)
    fig = plt.figure(figsize=(9.5, 4), layout="constrained")
    left = fig.add_subplot(1, 2, 1, projection="3d" if dim == 3 else None)
    title = f"SupCon minimiser, C = {num_classes}, d = {dim}, τ = {temperature:g}"
    (viz.plot_sphere if dim == 3 else viz.plot_circle)(toy["z"], toy["labels"], ax=left, title=title)
    right = fig.add_subplot(1, 2, 2)
    target = toy["target"]
    right.hist(toy["cosines"].numpy(), bins=np.linspace(-1, 1, 41), color="tab:blue")
    right.axvline(target, color="black", linestyle="--", label=f"−1/(C−1) = {target:.3f}")
    fits = "fits" if toy["fits"] else "cannot fit: needs d ≥ C − 1"
    right.set(
        xlim=(-1.05, 1.05),
        xlabel="cosines of centred class means (c ≠ c′)",
        ylabel="class pairs",
        title=f"spread {toy['spread']:.4f}, deviation {toy['simplex_deviation']:.3f}\n"
        f"(a regular simplex {fits})",
    )
    right.legend(fontsize="small")
    return fig


def simplex_explorer(num_classes: int = 4, dim: int = 3, temperature: float = 0.5):
    """Sliders for C, d and τ over ``plot_simplex_toy``: when do the classes form a regular simplex?"""
    style = {"description_width": "initial"}
    controls = {
        "num_classes": widgets.IntSlider(
            value=num_classes, min=2, max=8, description="classes C", continuous_update=False, style=style
        ),
        "dim": widgets.ToggleButtons(
            options=[("circle (d = 2)", 2), ("sphere (d = 3)", 3)],
            value=dim,
            description="dimension",
            style=style,
        ),
        "temperature": log_slider(temperature, -2, 0, "τ", step=0.1),
    }
    return live_explorer(plot_simplex_toy, controls)


def _check_noise_results(results, where: str) -> list[float]:
    """results: method → {noise rate → {metric → float}}, the same rates for every method."""
    if not isinstance(results, Mapping) or not results:
        fail(
            "results",
            where,
            "a non-empty dict method → {noise rate → metrics}",
            type(results).__name__,
            TypeError,
        )
    rates = None
    for name, by_rate in results.items():
        if not isinstance(by_rate, Mapping) or not by_rate:
            fail(
                "results",
                where,
                "a dict method → {noise rate → metrics}",
                f"{type(by_rate).__name__} for {name!r}",
                TypeError,
            )
        if rates is None:
            rates = sorted(by_rate)
        elif sorted(by_rate) != rates:
            fail(
                "results",
                where,
                f"the same noise rates {rates} for every method",
                f"{sorted(by_rate)} for {name!r}",
            )
    return rates


def plot_label_noise(results: Mapping, noise_rate: float, *, metric: str = "knn_accuracy"):
    """Left: ``metric`` against the noise rate for each method; right: every metric at ``noise_rate``.

    Args:
        results: method name → {noise rate → {"knn_accuracy", "linear_accuracy", "spread"}} (floats).
        noise_rate: one of the trained rates, highlighted.
        metric: a key of ``NOISE_METRICS`` for the left panel.
    """
    where = "plot_label_noise"
    rates = _check_noise_results(results, where)
    check_choice(metric, "metric", where, NOISE_METRICS)
    if noise_rate not in rates:
        fail("noise_rate", where, f"one of the trained rates {rates}", noise_rate)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.6), layout="constrained")
    for name, by_rate in results.items():
        values = [by_rate[r][metric] for r in rates]
        (line,) = left.plot(rates, values, "o-", label=name)
        left.plot(
            [noise_rate], [by_rate[noise_rate][metric]], "o", markersize=12, color=line.get_color(), alpha=0.4
        )
    left.axvline(noise_rate, color="gray", linestyle=":")
    left.set(
        xlabel="fraction of flipped training labels",
        ylabel=NOISE_METRICS[metric],
        title="against the noise rate",
    )
    left.legend(fontsize="small")
    keys = list(NOISE_METRICS)
    width = 0.8 / len(results)
    for k, (name, by_rate) in enumerate(results.items()):
        bars = right.bar(
            np.arange(len(keys)) + (k - (len(results) - 1) / 2) * width,
            [by_rate[noise_rate][key] for key in keys],
            width,
            label=name,
        )
        right.bar_label(bars, fmt="%.2f", fontsize="x-small")
    right.set(
        xticks=range(len(keys)),
        xticklabels=["kNN acc.", "linear acc.", "spread"],
        ylim=(0, 1.1),
        title=f"{noise_rate:.0%} of the training labels flipped",
    )
    right.legend(fontsize="small")
    return fig


def noise_explorer(results: Mapping, *, metric: str = "knn_accuracy"):
    """A slider over the trained noise rates (and a metric picker) over ``plot_label_noise``."""
    rates = _check_noise_results(results, "noise_explorer")
    style = {"description_width": "initial"}
    controls = {
        "noise_rate": widgets.SelectionSlider(
            options=[(f"{r:.0%}", r) for r in rates],
            value=rates[-1],
            description="label noise",
            continuous_update=False,
            style=style,
        ),
        "metric": widgets.Dropdown(
            options=[(v, k) for k, v in NOISE_METRICS.items()],
            value=metric,
            description="left panel",
            style=style,
        ),
    }
    return live_explorer(
        lambda noise_rate, metric: plot_label_noise(results, noise_rate, metric=metric), controls
    )
