"""Explorers for notebook 10 (serving): they only draw what ``lessons.serving`` computes.

``similarity_explorer(images, embedders)``: two sliders pick two test images; the figure shows them and
the cosine similarity of their embeddings under each backend (torch, onnx, onnx-int8) — what
``POST /similarity`` would answer. ``plot_backends(comparison, latency)`` is the static summary.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import fail
from edu_contrast.lessons import serving as lesson
from edu_contrast.widgets._core import live_explorer

__all__ = ["plot_pair", "similarity_explorer", "plot_backends"]

COLORS = {"torch": "tab:blue", "onnx": "tab:orange", "onnx-int8": "tab:green"}


def _show(ax, image, title: str) -> None:
    image = np.asarray(image)  # (C, H, W)
    ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255)
    ax.set_title(title)
    ax.axis("off")


def plot_pair(image_a, image_b, scores: dict[str, float], *, titles=("image a", "image b")):
    """Two uint8 images (C, H, W) and one bar per backend: cos(h_a, h_b)."""
    if not scores:
        fail("scores", "plot_pair", "a cosine similarity per backend", "an empty dict")
    fig, axes = plt.subplots(1, 3, figsize=(9, 2.8), gridspec_kw={"width_ratios": [1, 1, 2]})
    _show(axes[0], image_a, titles[0])
    _show(axes[1], image_b, titles[1])
    names = list(scores)
    bars = axes[2].barh(names, [scores[n] for n in names], color=[COLORS.get(n, "gray") for n in names])
    axes[2].bar_label(bars, fmt="%.4f", padding=3)
    axes[2].set_xlim(-1, 1.35)
    axes[2].axvline(0, color="black", lw=0.5)
    axes[2].set_xlabel("cosine similarity of h")
    axes[2].invert_yaxis()
    fig.tight_layout()
    return fig


def similarity_explorer(images, embedders: dict, *, labels=None, a: int = 0, b: int = 1):
    """Sliders for two indices into ``images`` (uint8 (N, C, H, W)); redraws ``plot_pair``."""
    n = len(images)

    def title(i: int) -> str:
        return f"#{i}" + (f" (label {int(labels[i])})" if labels is not None else "")

    def draw(a: int, b: int):
        scores = lesson.similarities(embedders, images[a], images[b])
        return plot_pair(images[a], images[b], scores, titles=(title(a), title(b)))

    controls = {
        key: widgets.IntSlider(value=v, min=0, max=n - 1, description=key, continuous_update=False)
        for key, v in (("a", a), ("b", b))
    }
    return live_explorer(draw, controls)


def plot_backends(comparison: dict[str, dict], latency: dict[str, dict]):
    """Three panels per backend: linear-probe accuracy, p50/p99 latency (ms), model size (kB)."""
    names = list(comparison)
    colors = [COLORS.get(n, "gray") for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    accuracy = [100 * comparison[n]["linear_accuracy"] for n in names]
    axes[0].bar(names, accuracy, color=colors)
    axes[0].set_ylim(min(accuracy) - 5, 100)
    axes[0].set_title("linear probe on h (%)")
    x = np.arange(len(names))
    axes[1].bar(x - 0.2, [latency[n]["p50_ms"] for n in names], 0.4, color=colors, label="p50")
    axes[1].bar(x + 0.2, [latency[n]["p99_ms"] for n in names], 0.4, color=colors, alpha=0.5, label="p99")
    axes[1].set_xticks(x, names)
    axes[1].set_title("latency of one image (ms, in process)")
    axes[1].legend()
    axes[2].bar(names, [comparison[n]["size_kb"] for n in names], color=colors)
    axes[2].set_title("model size (kB)")
    fig.tight_layout()
    return fig
