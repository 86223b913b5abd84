"""Helpers every plot shares: tensors to numpy, axes, one colour per class, unit points."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D

from edu_contrast._validation import check_choice, check_embeddings, check_labels, fail


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
        fail(name, where, f"a tensor of shape (N, {dim})", f"shape {tuple(z.shape)}")
    return _numpy(F.normalize(z.detach().to(torch.float64), dim=1))


def _positive_cells(positives, shape: tuple[int, int], where: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the cells to mark as positive pairs."""
    n_rows, n_cols = shape
    if isinstance(positives, str):
        check_choice(positives, "positives", where, ["two_views"])
        if n_rows != n_cols or n_rows % 2:
            fail("sim", where, "a square (2N, 2N) matrix for positives='two_views'", f"shape {shape}")
        rows = np.arange(n_rows)
        return rows, (rows + n_rows // 2) % n_rows  # anchor i in cat([z1, z2]) has positive i ± N
    positives = _numpy(positives)
    if positives.shape == shape:
        return np.nonzero(positives)  # a boolean mask
    if positives.shape == (n_rows,):
        return np.arange(n_rows), positives.astype(int)  # the positive column of each row
    fail(
        "positives",
        where,
        f"'two_views', a {shape} mask or {n_rows} column indices",
        f"shape {positives.shape}",
    )
