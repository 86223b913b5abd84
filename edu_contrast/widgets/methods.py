"""Notebook 06 explorers: MoCo's queue and momentum, and one table for SimCLR, MoCo, BYOL and VICReg.

``draw_queue`` / ``queue_explorer`` draw the ring buffer of M slots after T steps of N keys, coloured by
the age of each key (``lessons.methods.queue_ages``), next to the weights (1 − β)·β^a of the past query
encoders in the key encoder (``lessons.methods.key_encoder_weights``), with sliders for M, N, T and β.

For the comparison, ``comparison_table`` formats the rows of ``lessons.methods.evaluate_method``,
``plot_comparison`` draws them, ``embedding_maps`` maps each method's h to 2-D and
``comparison_explorer`` flips through those maps next to the bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Wedge

from edu_contrast import viz
from edu_contrast._validation import check_int, fail
from edu_contrast.lessons.methods import check_momentum, key_encoder_weights, queue_ages
from edu_contrast.viz._common import _scatter_by_label
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "draw_queue",
    "queue_explorer",
    "embedding_maps",
    "comparison_table",
    "plot_comparison",
    "draw_method_embedding",
    "comparison_explorer",
    "METRICS",
]

QUEUE_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024, 4096)
MOMENTA = (0.0, 0.5, 0.9, 0.99, 0.999)

# column key → (header, format, "higher"/"lower" is better or None)
METRICS = {
    "linear_accuracy": ("probe, all labels", "{:.3f}", "higher"),
    "few_label_accuracy": ("probe, 10 labels/class", "{:.3f}", "higher"),
    "alignment": ("alignment", "{:.3f}", "lower"),
    "uniformity": ("uniformity", "{:.3f}", "lower"),
    "positive_cosine": ("positive cos", "{:.3f}", None),
    "erank_h": ("eff. rank h", "{:.1f}", None),  # higher is not better per se: a random net's is high
    "erank_z": ("eff. rank z", "{:.1f}", None),
    "seconds": ("time (s)", "{:.1f}", "lower"),
}


# ---------------------------------------------------------------------------- MoCo's queue


def _runs(ages: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous slots of equal age: [(first slot, length, age)] (one wedge each, however large M is)."""
    runs, start = [], 0
    for s in range(1, len(ages) + 1):
        if s == len(ages) or ages[s] != ages[start]:
            runs.append((start, s - start, int(ages[start])))
            start = s
    return runs


def draw_queue(queue_size: int = 64, batch_size: int = 16, steps: int = 6, momentum: float = 0.99):
    """Left: the M slots of MoCo's queue as a ring, coloured by age, with the write pointer. Right: which
    past query encoders the key encoder is made of, (1 − β)·β^a, against the ages of the queued keys."""
    momentum = check_momentum(momentum, "draw_queue")
    ages, ptr = queue_ages(queue_size, batch_size, steps)
    oldest = int(ages.max())
    fig, (ring, kernel) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.3]})
    cmap = matplotlib.colormaps["viridis_r"]
    top = max(oldest, 1)
    for first, length, age in _runs(ages):
        # slot s spans the angle [90° − 360°·(s + 1)/M, 90° − 360°·s/M]: clockwise from the top
        theta1, theta2 = 90 - 360 * (first + length) / queue_size, 90 - 360 * first / queue_size
        colour = "lightgrey" if age < 0 else cmap(age / top)
        ring.add_patch(
            Wedge((0, 0), 1.0, theta1, theta2, width=0.35, facecolor=colour, edgecolor="white", lw=0.5)
        )
    angle = math.radians(90 - 360 * ptr / queue_size)
    ring.annotate(
        "next write",
        xy=(0.62 * math.cos(angle), 0.62 * math.sin(angle)),
        xytext=(0, 0),
        ha="center",
        va="center",
        arrowprops={"arrowstyle": "->", "lw": 2, "color": "crimson"},
    )
    ring.set(
        xlim=(-1.15, 1.15),
        ylim=(-1.15, 1.15),
        aspect="equal",
        title=f"queue: M = {queue_size} slots, N = {batch_size} keys per step, after {steps} steps\n"
        f"colour = age of the key (yellow: newest, purple: {oldest} steps old)",
    )
    ring.axis("off")
    filled = int((ages >= 0).sum())
    ring.text(
        0,
        -1.13,
        f"{filled} of {queue_size} slots hold real keys (grey: random start);\n"
        f"negatives per query: M = {queue_size} (SimCLR with this N: 2N − 2 = {2 * batch_size - 2})",
        ha="center",
        va="top",
        fontsize=9,
    )
    horizon = max(oldest + 1, int(3 / max(1 - momentum, 1e-3)) if momentum > 0 else 5, 5)
    horizon = min(horizon, 2000)
    weights = key_encoder_weights(momentum, horizon)
    steps_ago = np.arange(horizon + 1)
    kernel.fill_between(
        steps_ago, weights, step="mid", color="tab:blue", alpha=0.8, label="share of θ from a steps ago"
    )  # one polygon, however long the memory
    if oldest >= 0:
        kernel.axvspan(
            -0.5, oldest + 0.5, color="orange", alpha=0.25, label=f"ages of queued keys (0 … {oldest})"
        )
    memory = "∞" if momentum == 0 else f"{1 / (1 - momentum):.0f}"
    kernel.set(
        xlabel="a: steps ago",
        ylabel="(1 − β)·β^a",
        title=f"key encoder ξ_t = Σ_a (1 − β) β^a θ_(t−a), β = {momentum}:\nmemory ≈ 1/(1 − β) = "
        f"{1 if momentum == 0 else memory} steps",
    )
    kernel.legend(fontsize="small", loc="upper right")
    fig.tight_layout()
    return fig


def queue_explorer(queue_size: int = 64, batch_size: int = 16, steps: int = 6, momentum: float = 0.99):
    """Sliders for M, N, the number of steps and β over ``draw_queue``."""
    if queue_size not in QUEUE_SIZES:
        fail("queue_size", "queue_explorer", f"one of {QUEUE_SIZES}", queue_size)
    if momentum not in MOMENTA:
        fail("momentum", "queue_explorer", f"one of {MOMENTA}", momentum)
    style = {"description_width": "initial"}
    controls = {
        "queue_size": widgets.SelectionSlider(
            options=QUEUE_SIZES,
            value=queue_size,
            description="queue size M",
            continuous_update=False,
            style=style,
        ),
        "batch_size": widgets.SelectionSlider(
            options=(4, 8, 16, 32, 64),
            value=batch_size,
            description="batch N",
            continuous_update=False,
            style=style,
        ),
        "steps": widgets.IntSlider(
            value=steps, min=0, max=100, description="steps", continuous_update=False, style=style
        ),
        "momentum": widgets.SelectionSlider(
            options=MOMENTA, value=momentum, description="momentum β", continuous_update=False, style=style
        ),
    }
    return live_explorer(draw_queue, controls)


# ---------------------------------------------------------------------------- comparing methods


def embedding_maps(features: Mapping[str, torch.Tensor], labels, *, method: str = "umap", columns: int = 3):
    """One ``viz.plot_embedding_2d`` panel per entry of ``features`` (name → h ``(n, d)``).

    Returns ``(figure, coords)`` with ``coords[name]`` the ``(n, 2)`` points drawn, so an explorer can show
    them again without recomputing UMAP.
    """
    if not isinstance(features, Mapping) or not features:
        fail("features", "embedding_maps", "a non-empty dict name → (n, d) features", repr(features)[:60])
    columns = min(check_int(columns, "columns", "embedding_maps"), len(features))
    rows = math.ceil(len(features) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.9 * rows), squeeze=False)
    coords = {}
    for ax, (name, h) in zip(axes.flat, features.items()):
        viz.plot_embedding_2d(h, labels, ax=ax, method=method, title=name)
        coords[name] = np.asarray(ax.collections[0].get_offsets(), dtype=np.float64)  # (n, 2), as drawn
        ax.set(xticks=[], yticks=[], xlabel="", ylabel="")
        if ax.get_legend() is not None and ax is not axes.flat[0]:
            ax.get_legend().remove()  # one legend is enough
    for ax in list(axes.flat)[len(features) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig, coords


def _check_rows(rows, where: str) -> dict[str, Mapping]:
    if not isinstance(rows, Mapping) or not rows or not all(isinstance(r, Mapping) for r in rows.values()):
        fail("rows", where, "a non-empty dict method name → dict of metrics", repr(rows)[:80])
    return dict(rows)


def comparison_table(rows: Mapping[str, Mapping], columns: Sequence[str] | None = None) -> str:
    """A Markdown table, one row per method, one column per metric (``METRICS`` gives names and formats).

    ``rows``: {method name: {metric: value}}; a missing or None value prints as "—". The best value of
    each column with a direction (higher/lower is better) is bold.
    """
    where = "comparison_table"
    rows = _check_rows(rows, where)
    columns = (
        list(columns) if columns is not None else [c for c in METRICS if any(c in r for r in rows.values())]
    )
    for c in columns:
        if c not in METRICS:
            fail("columns", where, f"names from {list(METRICS)}", repr(c))
    best = {}
    for c in columns:
        values = [r[c] for r in rows.values() if r.get(c) is not None]
        direction = METRICS[c][2]
        if values and direction:
            best[c] = max(values) if direction == "higher" else min(values)
    header = "| method | " + " | ".join(METRICS[c][0] for c in columns) + " |"
    lines = [header, "| --- |" + " ---: |" * len(columns)]
    for name, row in rows.items():
        cells = []
        for c in columns:
            value = row.get(c)
            text = "—" if value is None else METRICS[c][1].format(value)
            cells.append(f"**{text}**" if value is not None and value == best.get(c) else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_comparison(
    rows: Mapping[str, Mapping],
    columns: Sequence[str] = ("linear_accuracy", "erank_h", "alignment", "uniformity"),
    *,
    highlight: str | None = None,
):
    """One bar chart per metric, one bar per method; ``highlight`` outlines one method's bars."""
    where = "plot_comparison"
    rows = _check_rows(rows, where)
    names = list(rows)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.4), squeeze=False)
    colours = matplotlib.colormaps["tab10"].colors
    for ax, c in zip(axes[0], columns):
        if c not in METRICS:
            fail("columns", where, f"names from {list(METRICS)}", repr(c))
        values = [rows[n].get(c) for n in names]
        heights = [np.nan if v is None else v for v in values]
        bars = ax.bar(range(len(names)), heights, color=[colours[i % 10] for i in range(len(names))])
        for name, bar in zip(names, bars):
            if name == highlight:
                bar.set(edgecolor="black", linewidth=2.5)
        header, _, direction = METRICS[c]
        ax.set_title(header + (f" ({direction} is better)" if direction else ""), fontsize=10)
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def draw_method_embedding(
    name: str,
    rows: Mapping[str, Mapping],
    coords: Mapping[str, np.ndarray],
    labels,
    *,
    columns: Sequence[str] = ("linear_accuracy", "erank_h"),
):
    """Left: the 2-D embedding ``coords[name]`` ``(n, 2)`` coloured by ``labels``; right: the bars with
    ``name`` outlined."""
    where = "draw_method_embedding"
    rows = _check_rows(rows, where)
    if name not in coords:
        fail("name", where, f"one of {list(coords)}", repr(name))
    points = np.asarray(coords[name], dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        fail("coords", where, "arrays of shape (n, 2)", f"shape {points.shape} for {name!r}")
    fig = plt.figure(figsize=(11, 4))
    grid = fig.add_gridspec(1, 1 + len(columns), width_ratios=[2] + [1] * len(columns))
    ax = fig.add_subplot(grid[0])
    _scatter_by_label(ax, points, labels, where, s=6)
    ax.set(title=f"{name}: 2-D map of the test embeddings h", xticks=[], yticks=[])
    colours = matplotlib.colormaps["tab10"].colors
    names = list(rows)
    for i, c in enumerate(columns):
        bar_ax = fig.add_subplot(grid[1 + i])
        heights = [np.nan if rows[n].get(c) is None else rows[n][c] for n in names]
        bars = bar_ax.bar(range(len(names)), heights, color=[colours[j % 10] for j in range(len(names))])
        for n, bar in zip(names, bars):
            bar.set(alpha=1.0 if n == name else 0.35, edgecolor="black" if n == name else "none", linewidth=2)
        bar_ax.set_title(METRICS[c][0], fontsize=10)
        bar_ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def comparison_explorer(
    rows: Mapping[str, Mapping], coords: Mapping[str, np.ndarray], labels, *, name: str | None = None
):
    """A dropdown over the methods (precomputed ``rows``, ``coords``) redrawing ``draw_method_embedding``."""
    names = [n for n in rows if n in coords]
    if not names:
        fail(
            "coords", "comparison_explorer", "2-D coordinates for at least one method of 'rows'", list(coords)
        )
    name = names[0] if name is None else name
    controls = {"name": widgets.Dropdown(options=names, value=name, description="method")}
    return live_explorer(lambda name: draw_method_embedding(name, rows, coords, labels), controls)
