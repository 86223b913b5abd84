"""The plots the notebooks share: similarity heatmaps, spectra, the alignment–uniformity plane, embeddings.

Every function draws with matplotlib, takes an optional ``ax`` to draw into (one is created
otherwise), and returns the ``Figure``; none calls ``plt.show()``. Inputs may be torch tensors
(on any device, with or without gradient) or numpy arrays. In Jupyter a returned pyplot figure
is shown once by the inline backend and once more as the cell's value: end the line with ``;``
or assign the result (``fig = plot_spectrum(z)``).

Notation (``notebooks/00_notation.md``): z embeddings (N, d), ẑ = z/‖z‖, s_ij = ẑ_i · ẑ_j,
σ singular values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D

from edu_contrast import diagnostics
from edu_contrast._validation import _fail, check_choice, check_embeddings, check_int, check_labels

__all__ = [
    "plot_similarity_matrix",
    "plot_spectrum",
    "plot_alignment_uniformity",
    "plot_embedding_2d",
    "plot_circle",
    "plot_sphere",
    "plot_history",
]

_PRETTY = {
    "loss": "training loss",
    "knn_accuracy": "kNN accuracy",
    "linear_accuracy": "linear-probe accuracy",
    "positive_cosine": "positive cosine",
    "effective_rank": "effective rank",
    "seconds": "seconds per epoch",
}


# ---------------------------------------------------------------- helpers


def _tensor(x) -> torch.Tensor:
    """numpy arrays and nested lists become tensors; tensors pass through (validated later)."""
    if isinstance(x, (np.ndarray, list, tuple)):
        return torch.as_tensor(np.asarray(x))
    return x


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _axes(ax, **subplot_kw):
    """(figure, axes): the caller's ``ax``, or a new figure with one subplot."""
    if ax is None:
        fig, ax = plt.subplots(subplot_kw=subplot_kw or None)
        return fig, ax
    return ax.figure, ax


def _label_colours(labels: np.ndarray):
    """Class index per point, a colormap with one distinct colour per class, and the classes."""
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) <= 10:
        colours = matplotlib.colormaps["tab10"].colors[: len(classes)]
    elif len(classes) <= 20:
        colours = matplotlib.colormaps["tab20"].colors[: len(classes)]
    else:
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 1, len(classes)))
    return index, ListedColormap(colours), classes


def _scatter_by_label(ax, points: np.ndarray, labels, where: str, **kwargs):
    """Scatter points (N, 2) or (N, 3) coloured by integer labels (N,), with a legend of the classes."""
    if labels is None:
        return ax.scatter(*points.T, **kwargs)
    labels = check_labels(_tensor(labels), len(points), "labels", where).cpu().numpy()
    index, cmap, classes = _label_colours(labels)
    collection = ax.scatter(*points.T, c=index, cmap=cmap, vmin=-0.5, vmax=len(classes) - 0.5, **kwargs)
    if len(classes) <= 20:
        handles = [
            Line2D([], [], marker="o", linestyle="", color=cmap(i), label=str(c))
            for i, c in enumerate(classes)
        ]
        ax.legend(handles=handles, title="label", fontsize="small", loc="best")
    return collection


def _unit_points(z, dim: int, name: str, where: str) -> np.ndarray:
    """ẑ as numpy (N, dim) for embeddings that must have exactly ``dim`` columns."""
    z = check_embeddings(_tensor(z), name, where, shape_hint=f"(N, {dim})")
    if z.shape[1] != dim:
        _fail(name, where, f"a tensor of shape (N, {dim})", f"shape {tuple(z.shape)}")
    return _numpy(F.normalize(z.detach().to(torch.float64), dim=1))


# ---------------------------------------------------------------- similarity matrix


def _positive_cells(positives, shape: tuple[int, int], where: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the cells to mark as positive pairs."""
    n_rows, n_cols = shape
    if isinstance(positives, str):
        check_choice(positives, "positives", where, ["two_views"])
        if n_rows != n_cols or n_rows % 2:
            _fail("sim", where, "a square (2N, 2N) matrix for positives='two_views'", f"shape {shape}")
        rows = np.arange(n_rows)
        return rows, (rows + n_rows // 2) % n_rows  # anchor i in cat([z1, z2]) has positive i ± N
    positives = _numpy(positives)
    if positives.shape == shape:
        return np.nonzero(positives)  # a boolean mask
    if positives.shape == (n_rows,):
        return np.arange(n_rows), positives.astype(int)  # the positive column of each row
    _fail(
        "positives",
        where,
        f"'two_views', a {shape} mask or {n_rows} column indices",
        f"shape {positives.shape}",
    )


def plot_similarity_matrix(
    sim,
    ax=None,
    *,
    title: str = "Similarity matrix",
    positives=None,
    cmap: str = "viridis",
    colorbar: bool = True,
):
    r"""Heatmap of a similarity or logit matrix s_ij (row i: anchor, column j: candidate).

    For NT-Xent (Chen et al. 2020, Eq. 1) pass the (2N, 2N) logits s_ij/τ of ``torch.cat([z1, z2])``
    with ``positives="two_views"``: the positive of anchor i is i + N (mod 2N) and is outlined.
    Non-finite cells (a diagonal masked with -inf) are left blank.

    Args:
        sim: (rows, columns) matrix, tensor or array.
        positives: None; "two_views"; a boolean mask of the same shape; or one column index per row.
        title, cmap, colorbar: figure dressing.
    """
    where = "plot_similarity_matrix"
    values = _numpy(sim)
    if values.ndim != 2:
        _fail("sim", where, "a 2-D matrix of shape (rows, columns)", f"shape {values.shape}")
    fig, ax = _axes(ax)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, interpolation="nearest")
    if colorbar:
        fig.colorbar(image, ax=ax, label="$s_{ij}$")
    if positives is not None:
        rows, cols = _positive_cells(positives, values.shape, where)
        marker_size = max(4.0, 2000.0 / max(values.shape))
        ax.scatter(
            cols, rows, s=marker_size, marker="s", facecolors="none", edgecolors="red", label="positive"
        )
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    ax.set(title=title, xlabel="j (candidate)", ylabel="i (anchor)")
    return fig


# ---------------------------------------------------------------- spectrum


def plot_spectrum(z_or_dict, ax=None, *, log: bool = True, normalize: bool = False, title: str | None = None):
    r"""Singular spectra σ_1 ≥ σ_2 ≥ … of one or several runs on one axis (dimensional collapse).

    Each value is either (N, d) embeddings, whose centred spectrum ``diagnostics.singular_spectrum``
    computes, or an already computed 1-D spectrum. A collapsed run shows a cliff after its first
    few σ_k (Jing et al. 2022, Hua et al. 2021).

    Args:
        z_or_dict: embeddings or spectrum, or a dict run name → embeddings or spectrum.
        log: log-scale the σ axis (collapse spans orders of magnitude).
        normalize: divide each spectrum by its σ_1, to compare runs of different scale.
    """
    where = "plot_spectrum"
    runs = dict(z_or_dict) if isinstance(z_or_dict, Mapping) else {None: z_or_dict}
    fig, ax = _axes(ax)
    for name, value in runs.items():
        value = _tensor(value)
        if isinstance(value, torch.Tensor) and value.dim() == 1:
            spectrum = _numpy(value)
        else:
            spectrum = diagnostics.singular_spectrum(check_embeddings(value, "z_or_dict", where, min_rows=2))
            spectrum = _numpy(spectrum)
        if normalize and spectrum[0] > 0:
            spectrum = spectrum / spectrum[0]
        ax.plot(np.arange(1, len(spectrum) + 1), spectrum, marker=".", label=name)
    if log:
        ax.set_yscale("log")
    ylabel = r"$\sigma_k / \sigma_1$" if normalize else r"$\sigma_k$"
    ax.set(title=title or "Singular spectrum of centred embeddings", xlabel="index k", ylabel=ylabel)
    if any(name is not None for name in runs):
        ax.legend(fontsize="small")
    return fig


# ---------------------------------------------------------------- alignment–uniformity plane


def _pairs(run) -> np.ndarray | None:
    """(T, 2) float array of (alignment, uniformity) rows, or None when ``run`` is not such a list."""
    try:
        pairs = np.asarray(_numpy(run) if isinstance(run, torch.Tensor) else run, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if pairs.shape == (2,):
        pairs = pairs[None, :]  # (1, 2) a single point
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) == 0:
        return None
    return pairs


def plot_alignment_uniformity(points, ax=None, *, title: str = "Alignment vs uniformity"):
    r"""Runs in the Wang & Isola 2020 plane: x = ℒ_uniform, y = ℒ_align; lower left is better.

    Args:
        points: dict run name → list of (alignment, uniformity) pairs (a single point, or a trajectory
            over epochs, drawn as a line ending in a star), or one such list without a name.
    """
    where = "plot_alignment_uniformity"
    runs = dict(points) if isinstance(points, Mapping) else {None: points}
    fig, ax = _axes(ax)
    for name, run in runs.items():
        pairs = _pairs(run)  # (T, 2)
        if pairs is None:
            _fail(
                "points",
                where,
                "a non-empty list of (alignment, uniformity) pairs",
                f"{run!r} for run {name!r}",
            )
        alignment_values, uniformity_values = pairs[:, 0], pairs[:, 1]
        (line,) = ax.plot(uniformity_values, alignment_values, marker="o", markersize=3, label=name)
        ax.scatter(
            uniformity_values[-1:], alignment_values[-1:], marker="*", s=120, color=line.get_color(), zorder=3
        )
    ax.set(
        title=title,
        xlabel=r"uniformity $\mathcal{L}_{uniform}$ (lower: more uniform)",
        ylabel=r"alignment $\mathcal{L}_{align}$ (lower: better aligned)",
    )
    if any(name is not None for name in runs):
        ax.legend(fontsize="small")
    return fig


# ---------------------------------------------------------------- embeddings


def _project_2d(z: torch.Tensor, method: str, random_state: int, n_neighbors: int) -> tuple[np.ndarray, str]:
    """(N, 2) coordinates and the method actually used."""
    x = _numpy(z)
    if method == "umap":
        try:
            import umap
        except ImportError:
            warnings.warn("umap-learn is not installed; plot_embedding_2d falls back to PCA.", stacklevel=3)
        else:
            n_neighbors = min(n_neighbors, len(x) - 1)
            # A fixed random_state makes UMAP single-threaded anyway; saying so avoids its warning.
            reducer = umap.UMAP(n_neighbors=n_neighbors, random_state=random_state, n_jobs=1)
            return reducer.fit_transform(x), "umap"  # the first call compiles numba code (~40 s)
    from sklearn.decomposition import PCA

    return PCA(n_components=2, svd_solver="full", random_state=random_state).fit_transform(x), "pca"


def plot_embedding_2d(
    z, labels=None, ax=None, *, method: str = "umap", random_state: int = 0, n_neighbors: int = 15, title=None
):
    """Scatter of (N, d) embeddings projected to 2-D by UMAP (McInnes et al. 2018) or PCA, coloured by label.

    UMAP keeps neighbourhoods (clusters) and needs umap-learn; its first call compiles for ~40 s.
    PCA keeps the two directions of largest variance; it is exact, instant and the fallback when
    umap-learn is missing.

    Args:
        z: (N, d) embeddings, d ≥ 2. labels: (N,) integer classes, or None.
        method: "umap" or "pca". random_state: seed of UMAP's layout. n_neighbors: UMAP's k.
    """
    where = "plot_embedding_2d"
    check_choice(method, "method", where, ["umap", "pca"])
    n_neighbors = check_int(n_neighbors, "n_neighbors", where, minimum=2)
    z = check_embeddings(_tensor(z), "z", where, min_rows=3)
    if z.shape[1] < 2:
        _fail("z", where, "a tensor of shape (N, d) with d >= 2", f"shape {tuple(z.shape)}")
    coords, used = _project_2d(z, method, random_state, n_neighbors)
    fig, ax = _axes(ax)
    _scatter_by_label(ax, np.asarray(coords), labels, where, s=8)
    ax.set(
        title=title or f"{used.upper()} of {len(coords)} embeddings", xlabel=f"{used} 1", ylabel=f"{used} 2"
    )
    return fig


def plot_circle(z2d, labels=None, ax=None, *, title: str = "Embeddings on the unit circle"):
    """2-D embeddings projected on the unit circle S¹, ẑ = z/‖z‖ as in Wang & Isola 2020.

    Args:
        z2d: (N, 2) embeddings (normalised here). labels: (N,) integer classes, or None.
    """
    where = "plot_circle"
    points = _unit_points(z2d, 2, "z2d", where)  # (N, 2)
    fig, ax = _axes(ax)
    angle = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(angle), np.sin(angle), color="lightgray", linewidth=1, zorder=0)
    _scatter_by_label(ax, points, labels, where, s=12)
    ax.set_aspect("equal")
    ax.set(title=title, xlim=(-1.2, 1.2), ylim=(-1.2, 1.2), xlabel="$\\hat z_1$", ylabel="$\\hat z_2$")
    return fig


def plot_sphere(z3d, labels=None, ax=None, *, title: str = "Embeddings on the unit sphere"):
    """3-D embeddings projected on the unit sphere S², ẑ = z/‖z‖, over a wireframe sphere.

    Args:
        z3d: (N, 3) embeddings (normalised here). labels: (N,) integer classes, or None.
        ax: a 3-D axes (``projection="3d"``), or None.
    """
    where = "plot_sphere"
    points = _unit_points(z3d, 3, "z3d", where)  # (N, 3)
    if ax is not None and getattr(ax, "name", None) != "3d":
        _fail(
            "ax",
            where,
            "a 3-D axes (fig.add_subplot(projection='3d'))",
            f"a {getattr(ax, 'name', ax)!r} axes",
        )
    fig, ax = _axes(ax, projection="3d")
    u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 24), np.linspace(0, np.pi, 12))  # (12, 24) each
    ax.plot_wireframe(
        np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="lightgray", linewidth=0.5
    )
    _scatter_by_label(ax, points, labels, where, s=12, depthshade=False)
    ax.set_box_aspect((1, 1, 1))
    ax.set(title=title, xlabel="$\\hat z_1$", ylabel="$\\hat z_2$", zlabel="$\\hat z_3$")
    return fig


# ---------------------------------------------------------------- training history


def _history_keys(history: Sequence[Mapping], keys, where: str) -> list[str]:
    present = [k for record in history for k in record]
    available = list(dict.fromkeys(k for k in present if k != "epoch"))
    if keys is None:
        return [k for k in available if k != "seconds"]
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in available]
    if not keys or missing:
        _fail("keys", where, f"a non-empty list of history keys among {available}", keys)
    return keys


def plot_history(history, keys=None, ax=None, *, title: str | None = None):
    """Per-epoch training curves, one subplot per key (or all keys on the one ``ax`` given).

    Args:
        history: list of per-epoch dicts, e.g. {"epoch", "loss", "knn_accuracy", "positive_cosine",
            "effective_rank", "seconds"}; an epoch that lacks a key (kNN every few epochs) is skipped
            for that key.
        keys: a key or list of keys to plot; default every key except "epoch" and "seconds".
        ax: None (one new subplot per key), one Axes (all keys on it), or one Axes per key.
    """
    where = "plot_history"
    if isinstance(history, Mapping) or not isinstance(history, Sequence) or not history:
        _fail("history", where, "a non-empty list of per-epoch dicts", repr(history)[:80], TypeError)
    if not all(isinstance(record, Mapping) for record in history):
        _fail("history", where, "a list of dicts", f"items of type {type(history[0]).__name__}", TypeError)
    keys = _history_keys(history, keys, where)
    own_figure = ax is None
    if own_figure:
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
        axes = list(axes[0])
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) != len(keys):
            _fail("ax", where, f"{len(keys)} axes, one per key {keys}", f"{len(axes)} axes")
        fig = axes[0].figure
    else:
        fig, axes = ax.figure, [ax] * len(keys)
    shared = len(set(map(id, axes))) == 1 and len(keys) > 1
    for key, axis in zip(keys, axes):
        rows = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(history) if r.get(key) is not None]
        epochs, values = zip(*rows) if rows else ((), ())
        axis.plot(epochs, values, marker="o", markersize=3, label=_PRETTY.get(key, key))
        axis.set(xlabel="epoch", title=None if shared else _PRETTY.get(key, key))
    if shared:
        axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    if own_figure:
        fig.tight_layout()
    return fig
