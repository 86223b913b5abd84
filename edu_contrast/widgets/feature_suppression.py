"""Notebook 05 explorers: what a few shared bits, or one big digit, do to what SimCLR learns.

The runs come from ``lessons.feature_suppression`` (``randbit_run``, ``multidigits_run``): plain dicts
with probe accuracies and, for RandBit, the 2-D PCA coordinates of the test features h. Nothing here
trains or measures; the explorers flip through runs computed once in the notebook.

- ``show_randbit_image``: one RandBit input, the image channel next to its k bit planes.
- ``plot_randbit_sweep``: content and bit probe accuracy against k, one line per temperature τ.
- ``draw_randbit_run`` / ``randbit_explorer``: h of one run in 2-D, coloured by digit and by u.
- ``show_multidigits``, ``plot_multidigits_sweep`` / ``multidigits_explorer``: the canvases and the
  small- and large-digit probes against the large digit's side L, SimCLR against supervised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import check_int, fail
from edu_contrast.lessons import feature_suppression as lesson
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "show_randbit_image",
    "plot_randbit_sweep",
    "find_run",
    "draw_randbit_run",
    "randbit_explorer",
    "show_multidigits",
    "plot_multidigits_sweep",
    "multidigits_explorer",
]

_METHOD_STYLE = {
    "simclr": ("tab:blue", "SimCLR"),
    "supervised": ("tab:green", "supervised"),
    "random": ("tab:grey", "random encoder"),
}


def _check_runs(runs, keys: Sequence[str], where: str) -> list[Mapping]:
    if not isinstance(runs, Sequence) or not runs or not all(isinstance(r, Mapping) for r in runs):
        fail(
            "runs", where, "a non-empty list of run dicts (from lessons.feature_suppression)", repr(runs)[:60]
        )
    for run in runs:
        missing = [k for k in keys if k not in run]
        if missing:
            fail("runs", where, f"run dicts with the keys {list(keys)}", f"a run without {missing}")
    return list(runs)


# ---------------------------------------------------------------------------- RandBit


def show_randbit_image(dataset, index: int = 0):
    """The channels of RandBit image ``index``: the image, then each constant bit plane b_j (j = 0 first)."""
    where = "show_randbit_image"
    bits = getattr(dataset, "bits", None)
    if not isinstance(bits, int):
        fail("dataset", where, "a data.RandBit", type(dataset).__name__, TypeError)
    index = check_int(index, "index", where, minimum=0)
    image = dataset.images[index]  # (C + k, H, W)
    base = dataset.base_channels
    fig, axes = plt.subplots(1, 1 + bits, figsize=(1.6 * (1 + bits), 2.2), squeeze=False)
    picture = image[:base].permute(1, 2, 0).squeeze(-1).numpy()  # (H, W) or (H, W, 3)
    axes[0, 0].imshow(picture, cmap="gray", vmin=0, vmax=255)
    axes[0, 0].set_title(f"image, y = {int(dataset.labels[index])}", fontsize=9)
    u = int(dataset.bit_labels[index])
    for j in range(bits):
        axes[0, 1 + j].imshow(image[base + j].numpy(), cmap="gray", vmin=0, vmax=255)
        axes[0, 1 + j].set_title(f"b{j} = {(u >> j) & 1}", fontsize=9)
    for ax in axes[0]:
        ax.set(xticks=[], yticks=[])
    fig.suptitle(
        f"RandBit input with k = {bits}: u = {u} = 0b{u:0{bits}b}, shared by both views", fontsize=10
    )
    fig.tight_layout()
    return fig


def _temperatures(runs) -> list[float]:
    return sorted({float(r["temperature"]) for r in runs}, reverse=True)


def plot_randbit_sweep(runs: Sequence[Mapping], ax=None):
    """Probe accuracy against k: content (solid, chance 1/10) and bits (dashed, chance 1/2), per τ."""
    runs = _check_runs(
        runs, ("bits", "temperature", "content_accuracy", "bit_accuracy"), "plot_randbit_sweep"
    )
    fig, ax = plt.subplots(figsize=(6.5, 4)) if ax is None else (ax.figure, ax)
    colours = plt.get_cmap("tab10").colors
    for i, tau in enumerate(_temperatures(runs)):
        chosen = sorted((r for r in runs if float(r["temperature"]) == tau), key=lambda r: r["bits"])
        ks = [r["bits"] for r in chosen]
        ax.plot(
            ks,
            [r["content_accuracy"] for r in chosen],
            "o-",
            color=colours[i],
            label=f"digit (content), τ = {tau}",
        )
        with_bits = [r for r in chosen if r["bit_accuracy"] is not None]
        ax.plot(
            [r["bits"] for r in with_bits],
            [r["bit_accuracy"] for r in with_bits],
            "s--",
            color=colours[i],
            alpha=0.7,
            label=f"bits of u, τ = {tau}",
        )
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.text(ax.get_xlim()[1], 0.1, " chance (digit)", va="center", fontsize=8, color="grey")
    ax.set(
        xlabel="k: random bits shared by both views",
        ylabel="linear-probe accuracy on h",
        ylim=(0, 1.05),
        title="RandBit: the bits are learned, the digit is forgotten",
    )
    ax.legend(fontsize="small", loc="center left")
    return fig


def find_run(runs: Sequence[Mapping], **match) -> Mapping:
    """The run whose values equal ``match`` (e.g. ``bits=4, temperature=0.5``); ValueError if none."""
    runs = _check_runs(runs, tuple(match), "find_run")
    for run in runs:
        if all(run[k] == v for k, v in match.items()):
            return run
    options = sorted({tuple(run[k] for k in match) for run in runs})
    fail("match", "find_run", f"values of {tuple(match)} among {options}", tuple(match.values()))


def draw_randbit_run(runs: Sequence[Mapping], bits: int, temperature: float):
    """Test features h of one run in 2-D (PCA), coloured by digit (left) and by u (right); its probes."""
    run = find_run(runs, bits=bits, temperature=temperature)
    points = np.asarray(run["coords"], dtype=np.float64)  # (N, 2)
    labels, values = np.asarray(run["labels"]), np.asarray(run["values"])
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), gridspec_kw={"width_ratios": [1, 1, 0.6]})
    axes[0].scatter(*points.T, c=labels, cmap="tab10", s=7, vmin=-0.5, vmax=9.5)
    axes[0].set_title("h coloured by the digit y", fontsize=10)
    if bits:
        axes[1].scatter(*points.T, c=values, cmap="viridis", s=7)
        axes[1].set_title(f"h coloured by u ∈ [0, {2**bits})", fontsize=10)
    else:
        axes[1].text(0.5, 0.5, "k = 0: no bits", ha="center", va="center", transform=axes[1].transAxes)
    for ax in axes[:2]:
        ax.set(xticks=[], yticks=[], xlabel="PC 1", ylabel="PC 2")
    names, heights = ["digit y"], [run["content_accuracy"]]
    if run["bit_accuracy"] is not None:
        names.append("bits of u")
        heights.append(run["bit_accuracy"])
    axes[2].bar(names, heights, color=["tab:blue", "tab:orange"][: len(names)])
    axes[2].set(ylim=(0, 1.05), title="linear probes on h")
    for i, value in enumerate(heights):
        axes[2].text(i, value + 0.02, f"{value:.2f}", ha="center", fontsize=9)
    fig.suptitle(f"SimCLR on RandBit, k = {bits}, τ = {temperature}", fontsize=11)
    fig.tight_layout()
    return fig


def randbit_explorer(runs: Sequence[Mapping], *, bits: int | None = None, temperature: float | None = None):
    """A slider over k and buttons over τ, redrawing ``draw_randbit_run`` from the precomputed ``runs``."""
    runs = _check_runs(runs, ("bits", "temperature", "coords"), "randbit_explorer")
    ks = sorted({r["bits"] for r in runs})
    taus = _temperatures(runs)
    controls = {
        "bits": widgets.SelectionSlider(
            options=ks, value=ks[-1] if bits is None else bits, description="bits k", continuous_update=False
        ),
        "temperature": widgets.ToggleButtons(
            options=taus, value=taus[0] if temperature is None else temperature, description="τ"
        ),
    }
    return live_explorer(lambda bits, temperature: draw_randbit_run(runs, bits, temperature), controls)


# ---------------------------------------------------------------------------- MultiDigits


def show_multidigits(dataset, count: int = 6):
    """The first ``count`` MultiDigits canvases with their (large, small) labels."""
    where = "show_multidigits"
    if not hasattr(dataset, "labels_small"):
        fail("dataset", where, "a data.MultiDigits", type(dataset).__name__, TypeError)
    count = min(check_int(count, "count", where), len(dataset))
    fig, axes = plt.subplots(1, count, figsize=(1.7 * count, 2.1), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.imshow(dataset.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"L:{int(dataset.labels_large[i])}  S:{int(dataset.labels_small[i])}", fontsize=9)
        ax.set(xticks=[], yticks=[])
    fig.suptitle(
        f"MultiDigits: large digit L = {dataset.large_size}, small digit S = {dataset.small_size}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def plot_multidigits_sweep(runs: Sequence[Mapping], *, highlight: int | None = None, ax=None):
    """Small-digit (solid) and large-digit (dashed) probe accuracy against L, one colour per method."""
    runs = _check_runs(
        runs, ("large_size", "method", "small_accuracy", "large_accuracy"), "plot_multidigits_sweep"
    )
    fig, ax = plt.subplots(figsize=(6.5, 4)) if ax is None else (ax.figure, ax)
    for method in [m for m in _METHOD_STYLE if any(r["method"] == m for r in runs)]:
        colour, label = _METHOD_STYLE[method]
        chosen = sorted((r for r in runs if r["method"] == method), key=lambda r: r["large_size"])
        sizes = [r["large_size"] for r in chosen]
        ax.plot(
            sizes, [r["small_accuracy"] for r in chosen], "o-", color=colour, label=f"{label}: small digit"
        )
        ax.plot(
            sizes,
            [r["large_accuracy"] for r in chosen],
            "s--",
            color=colour,
            alpha=0.6,
            label=f"{label}: large digit",
        )
    if highlight is not None:
        ax.axvline(highlight, color="crimson", lw=1, alpha=0.5)
    small = runs[0].get("small_size")
    ax.set(
        xlabel="L: side of the large digit",
        ylabel="linear-probe accuracy on h",
        ylim=(0, 1.05),
        title=f"MultiDigits: the small digit (S = {small}) is suppressed by a growing large one",
    )
    ax.legend(fontsize="x-small", loc="lower left")
    return fig


def multidigits_explorer(runs: Sequence[Mapping], base, *, small_size: int, canvas: int, seed: int = 0):
    """A slider over L: example canvases (built from ``base``) above the sweep with L marked."""
    runs = _check_runs(runs, ("large_size", "method"), "multidigits_explorer")
    sizes = sorted({r["large_size"] for r in runs})

    def draw(large_size):
        example = lesson.multidigits_examples(base, small_size, large_size, canvas, seed=seed)
        fig = plt.figure(figsize=(11, 4))
        grid = fig.add_gridspec(2, 5, width_ratios=[1, 1, 1, 1, 5])
        for i in range(8):
            ax = fig.add_subplot(grid[i // 4, i % 4])
            ax.imshow(example.images[i, 0].numpy(), cmap="gray", vmin=0, vmax=255)
            ax.set(xticks=[], yticks=[])
        plot_multidigits_sweep(runs, highlight=large_size, ax=fig.add_subplot(grid[:, 4]))
        fig.suptitle(f"L = {large_size}, S = {small_size} on a {canvas} × {canvas} canvas", fontsize=10)
        fig.tight_layout()
        return fig

    controls = {
        "large_size": widgets.SelectionSlider(
            options=sizes, value=sizes[-1], description="large L", continuous_update=False
        )
    }
    return live_explorer(draw, controls)
