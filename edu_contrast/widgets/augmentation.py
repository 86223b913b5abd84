"""Notebook 12's figures and explorer: views drawn from 𝒯(s, s_min), the probe heatmap, kornia vs augment.

- ``plot_heatmap``: linear-probe accuracy over (s, s_min), one cell per run of ``lesson.probe_grid``.
- ``draw_views``: a few images and their views under SimCLR's 𝒯 with colour strength s and crop scale s_min.
- ``draw_cell``: both, the chosen (s, s_min) cell outlined; ``augmentation_explorer`` wires it to menus.
- ``plot_jitter_comparison``: histograms of the per-channel means of many jittered draws, package vs kornia.
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from edu_contrast import augment
from edu_contrast._validation import check_int, fail
from edu_contrast.lessons import augmentation as lesson
from edu_contrast.widgets._core import live_explorer

__all__ = ["plot_heatmap", "draw_views", "draw_cell", "augmentation_explorer", "plot_jitter_comparison"]

CHANNELS = ("R", "G", "B")


def _cell(grid: dict, strength: float, min_scale: float) -> tuple[int, int]:
    """The (row, column) of (s, s_min) in ``grid``; a ValueError naming the values it has otherwise."""
    if strength not in grid["strengths"]:
        fail("strength", "draw_cell", f"one of {grid['strengths']}", strength)
    if min_scale not in grid["min_scales"]:
        fail("min_scale", "draw_cell", f"one of {grid['min_scales']}", min_scale)
    return grid["strengths"].index(strength), grid["min_scales"].index(min_scale)


def plot_heatmap(grid: dict, *, highlight: tuple[float, float] | None = None, ax=None):
    """acc(s, s_min) as a heatmap (rows s, columns s_min), each cell labelled; ``highlight`` = (s, s_min)
    outlines one cell. ``grid`` is ``lesson.probe_grid``'s result. Returns the Figure."""
    accuracy = np.asarray(grid["accuracy"])  # (len(s), len(s_min))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.6, 3.8))
    image = ax.imshow(accuracy, cmap="viridis", origin="lower", aspect="auto")
    for (i, j), value in np.ndenumerate(accuracy):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w" if value < accuracy.mean() else "k")
    ax.set_xticks(range(len(grid["min_scales"])), [str(v) for v in grid["min_scales"]])
    ax.set_yticks(range(len(grid["strengths"])), [str(v) for v in grid["strengths"]])
    ax.set(xlabel="crop scale s_min", ylabel="colour strength s", title="linear probe accuracy on h")
    if highlight is not None:
        i, j = _cell(grid, *highlight)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def _views(images: torch.Tensor, strength: float, min_scale: float, n_views: int, seed: int) -> torch.Tensor:
    """(n_images, n_views, 3, H, W) float views a(x), a ~ 𝒯(s, s_min); the global random state is kept."""
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()  # (n, 3, H, W)
    config = lesson.simclr_augment_config(min_scale, strength)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        aug = augment.batched(x.shape[-1], 3, config)
        views = torch.stack([aug(x) for _ in range(n_views)], dim=1)  # (n, n_views, 3, H, W)
    return views


def draw_views(images, strength: float, min_scale: float, *, n_views: int = 6, seed: int = 0, axes=None):
    """Each image (rows) and ``n_views`` views of it under 𝒯(s = ``strength``, s_min = ``min_scale``)."""
    if not isinstance(images, torch.Tensor):
        fail("images", "draw_views", "an (n, 3, H, W) tensor", type(images).__name__, TypeError)
    if images.dim() != 4 or images.shape[1] != 3:
        fail("images", "draw_views", "an (n, 3, H, W) tensor", f"shape {tuple(images.shape)}")
    n_views = check_int(n_views, "n_views", "draw_views")
    views = _views(images, strength, min_scale, n_views, seed)
    rows, cols = len(images), n_views + 1
    if axes is None:
        _, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    originals = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    for r in range(rows):
        for c in range(cols):
            picture = originals[r] if c == 0 else views[r, c - 1]
            axes[r][c].imshow(picture.permute(1, 2, 0).clamp(0, 1).numpy())  # (H, W, 3)
            axes[r][c].axis("off")
    axes[0][0].set_title("x", fontsize=9)
    axes[0][1].set_title(f"views, s = {strength}, s_min = {min_scale}", fontsize=9, loc="left")
    return axes[0][0].figure


def draw_cell(images, grid: dict, strength: float, min_scale: float, *, n_views: int = 5, seed: int = 0):
    """Views under 𝒯(s, s_min) on the left, the heatmap with that cell outlined on the right."""
    _cell(grid, strength, min_scale)
    rows, cols = len(images), n_views + 1
    fig = plt.figure(figsize=(1.2 * cols + 5, max(3.8, 1.2 * rows)))
    spec = fig.add_gridspec(rows, cols + 4)
    axes = [[fig.add_subplot(spec[r, c]) for c in range(cols)] for r in range(rows)]
    draw_views(images, strength, min_scale, n_views=n_views, seed=seed, axes=axes)
    plot_heatmap(grid, highlight=(strength, min_scale), ax=fig.add_subplot(spec[:, cols + 1 :]))
    return fig


def augmentation_explorer(images, grid: dict, *, n_views: int = 5, seed: int = 0):
    """Menus for s and s_min (the values of ``grid``): the views they draw and their probe accuracy."""
    strengths, scales = list(grid["strengths"]), list(grid["min_scales"])
    default_s = 0.5 if 0.5 in strengths else strengths[-1]
    controls = {
        "strength": W.Dropdown(options=strengths, value=default_s, description="s"),
        "min_scale": W.Dropdown(options=scales, value=scales[len(scales) // 2], description="s_min"),
    }
    return live_explorer(lambda **v: draw_cell(images, grid, n_views=n_views, seed=seed, **v), controls)


def plot_jitter_comparison(summaries: dict[str, torch.Tensor], *, title: str = ""):
    """Histograms of each draw's per-channel mean (``lesson.channel_summaries``, columns 0–2), one panel per
    channel, one histogram per implementation in ``summaries`` {name: (draws, 6)}."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), sharey=True)
    for k, ax in enumerate(axes):
        values = torch.cat([s[:, k] for s in summaries.values()])
        bins = np.linspace(float(values.min()), float(values.max()), 40)
        for name, s in summaries.items():
            ax.hist(s[:, k].numpy(), bins=bins, histtype="step", density=True, label=name, linewidth=1.5)
        ax.set(xlabel=f"mean of channel {CHANNELS[k]} per draw")
    axes[0].set(ylabel="density")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig
