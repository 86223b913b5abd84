"""Similarity/logit heatmaps and singular-value spectra (notation: ``notebooks/00_notation.md``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from edu_contrast import diagnostics
from edu_contrast._validation import check_embeddings, fail
from edu_contrast.viz._common import (
    _axes,
    _numpy,
    _positive_cells,
    _tensor,
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
        fail("sim", where, "a 2-D matrix of shape (rows, columns)", f"shape {values.shape}")
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
