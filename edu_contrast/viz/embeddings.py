"""Embeddings on the plane: the alignment–uniformity plane, 2-D maps (UMAP, t-SNE, PCA), circle and sphere."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import torch

from edu_contrast._validation import check_choice, check_embeddings, check_int, fail
from edu_contrast.viz._common import (
    _axes,
    _numpy,
    _scatter_by_label,
    _tensor,
    _unit_points,
)


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
            fail(
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
        fail("z", where, "a tensor of shape (N, d) with d >= 2", f"shape {tuple(z.shape)}")
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
        fail(
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
