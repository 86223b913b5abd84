"""Explorers for notebook 16 (retrieval): they only draw what ``lessons.retrieval`` measured.

``tradeoff_explorer(sweeps)``: an efSearch slider over precomputed ``ef_sweep`` results — recall@k against
queries/s, the chosen efSearch marked, the exact index as the reference. ``query_explorer(images, ids)``:
a slider picks a query; its top-k gallery images (precomputed ids) are drawn with their labels.
``plot_growth(rows)`` is the static figure of the cost against the gallery's size.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import fail
from edu_contrast.widgets._core import live_explorer

__all__ = ["plot_tradeoff", "tradeoff_explorer", "plot_neighbours", "query_explorer", "plot_growth"]

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def plot_tradeoff(sweeps: dict, *, ef_search: int | None = None):
    """recall@k (x) against queries/s (y, log) per efSearch, one curve per gallery of ``sweeps``
    ({name: ``lesson.ef_sweep`` result}); each exact index a star at recall 1; ``ef_search`` circled."""
    if not sweeps:
        fail("sweeps", "plot_tradeoff", "at least one ef_sweep result", "an empty dict")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for color, (name, sweep) in zip(COLORS, sweeps.items()):
        rows = sorted(sweep["hnsw"], key=lambda r: r["ef_search"])
        recall, qps = [r["recall"] for r in rows], [r["qps"] for r in rows]
        ax.plot(recall, qps, "o-", color=color, label=f"HNSW, {name} (n = {sweep['n']:,})")
        for r in rows:
            ax.annotate(str(r["ef_search"]), (r["recall"], r["qps"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        ax.plot([1.0], [sweep["exact"]["qps"]], "*", ms=12, color=color, label=f"exact, {name}")
        chosen = [r for r in rows if r["ef_search"] == ef_search]
        if chosen:
            ax.plot(chosen[0]["recall"], chosen[0]["qps"], "o", ms=14, mfc="none", mec="black", mew=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10 against the exact index")
    ax.set_ylabel("queries per second (log)")
    title = "HNSW: efSearch trades recall for speed" + (f" — efSearch = {ef_search}" if ef_search else "")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def tradeoff_explorer(sweeps: dict, *, ef_search: int = 64):
    """A slider over the efSearch values of ``sweeps`` (no search runs: the figure redraws the numbers)."""
    values = sorted({r["ef_search"] for sweep in sweeps.values() for r in sweep["hnsw"]})
    if ef_search not in values:
        fail("ef_search", "tradeoff_explorer", f"one of the measured values {values}", ef_search)

    def draw(ef_search: int):
        return plot_tradeoff(sweeps, ef_search=ef_search)

    slider = widgets.SelectionSlider(options=values, value=ef_search, description="efSearch",
                                     continuous_update=False)  # fmt: skip
    return live_explorer(draw, {"ef_search": slider})


def _show(ax, image, title: str, color: str = "black") -> None:
    image = np.asarray(image)  # (C, H, W)
    ax.imshow(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0), cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=8, color=color)
    ax.axis("off")


def plot_neighbours(images, query: int, ids, *, labels=None, classes=None):
    """The query image and its neighbours ``ids`` (best first, the query itself left out), each titled
    with its class; a neighbour of another class than the query is titled in red."""
    ids = [int(i) for i in np.asarray(ids) if int(i) != query]
    if not ids:
        fail("ids", "plot_neighbours", "at least one neighbour other than the query", "none")

    def name(i: int) -> str:
        if labels is None:
            return f"#{i}"
        label = int(labels[i])
        return classes[label] if classes is not None else f"class {label}"

    fig, axes = plt.subplots(1, len(ids) + 1, figsize=(1.3 * (len(ids) + 1), 1.9))
    _show(axes[0], images[query], f"query #{query}\n{name(query)}")
    for rank, (ax, i) in enumerate(zip(axes[1:], ids), start=1):
        wrong = labels is not None and int(labels[i]) != int(labels[query])
        _show(ax, images[i], f"{rank}. {name(i)}", "tab:red" if wrong else "black")
    fig.tight_layout()
    return fig


def query_explorer(images, ids, *, labels=None, classes=None, query: int = 0):
    """A slider over the queries of a precomputed neighbour table ``ids`` ((n, k) gallery ids, row i the
    neighbours of gallery item i); redraws ``plot_neighbours``."""
    ids = np.asarray(ids)

    def draw(query: int):
        return plot_neighbours(images, query, ids[query], labels=labels, classes=classes)

    slider = widgets.IntSlider(value=query, min=0, max=len(ids) - 1, description="query",
                               continuous_update=False)  # fmt: skip
    return live_explorer(draw, {"query": slider})


def plot_growth(rows: list[dict]):
    """Against the gallery size n (log): queries/s of exact and HNSW search, and HNSW's build time."""
    if not rows:
        fail("rows", "plot_growth", "the rows of lesson.growth", "an empty list")
    n = [r["n"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].plot(n, [r["exact_qps"] for r in rows], "*-", label="exact (one matrix product)")
    axes[0].plot(n, [r["hnsw_qps"] for r in rows], "o-", label="HNSW, efSearch 64")
    axes[0].set_ylabel("queries per second")
    axes[0].legend(fontsize=8)
    axes[1].plot(n, [r["build_s"] for r in rows], "o-", color="tab:green")
    axes[1].set_ylabel("HNSW build time (s)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("gallery size n")
    fig.tight_layout()
    return fig
