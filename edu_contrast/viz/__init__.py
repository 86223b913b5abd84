"""The plots the notebooks share: similarity heatmaps, spectra, the alignment–uniformity plane, embeddings.

Every function draws with matplotlib, takes an optional ``ax`` to draw into (one is created
otherwise), and returns the ``Figure``; none calls ``plt.show()``. Inputs may be torch tensors
(on any device, with or without gradient) or numpy arrays. In Jupyter a returned pyplot figure
is shown once by the inline backend and once more as the cell's value: end the line with ``;``
or assign the result (``fig = plot_spectrum(z)``).

Notation (``notebooks/00_notation.md``): z embeddings (N, d), ẑ = z/‖z‖, s_ij = ẑ_i · ẑ_j,
σ singular values.
"""

from edu_contrast.viz.embeddings import plot_alignment_uniformity, plot_circle, plot_embedding_2d, plot_sphere
from edu_contrast.viz.history import plot_history
from edu_contrast.viz.matrices import plot_similarity_matrix, plot_spectrum

__all__ = [
    "plot_similarity_matrix",
    "plot_spectrum",
    "plot_alignment_uniformity",
    "plot_embedding_2d",
    "plot_circle",
    "plot_sphere",
    "plot_history",
]
