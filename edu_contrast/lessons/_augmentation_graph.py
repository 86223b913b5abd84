r"""Notebook 13, section 5: the augmentation graph (Arora et al. 2019; HaoChen et al. 2021).

A small graph whose connected components are the latent classes (``augmentation_graph``); the population
spectral contrastive loss (``population_spectral_loss``), its minimiser (``spectral_minimiser``) against the
top eigenvectors of the normalised adjacency (``top_eigenvectors``, ``span_distance``), and a linear probe
(``graph_probe``). ``lessons.negatives`` re-exports them all.
"""

from __future__ import annotations

import torch

from edu_contrast import probes
from edu_contrast._validation import check_int, check_labels

__all__ = [
    "augmentation_graph",
    "normalized_adjacency",
    "population_spectral_loss",
    "spectral_minimiser",
    "top_eigenvectors",
    "span_distance",
    "graph_probe",
]


def augmentation_graph(sizes=(6, 5, 4), *, bridge: float = 0.0, seed: int = 0):
    """A weighted augmentation graph: ``(A (n, n) float64, component (n,) long)``.

    Nodes are augmented inputs; w_xx' = A_xx' is how often x and x' arise as two views of one image.
    Each block of ``sizes`` nodes is connected (a ring plus random chords, weights in [0.5, 1.5]); blocks
    are joined only by edges of weight ``bridge``, so with ``bridge = 0`` the connected components are the
    latent classes (Arora et al. 2019; HaoChen et al. 2021, Sec. 3).
    """
    g = torch.Generator().manual_seed(seed)
    component = torch.cat([torch.full((s,), c) for c, s in enumerate(sizes)])  # (n,)
    n = len(component)
    same = component[:, None] == component[None, :]  # (n, n)
    chords = torch.rand(n, n, generator=g) < 0.5
    weights = 0.5 + torch.rand(n, n, generator=g, dtype=torch.float64)  # (n, n)
    start = 0
    for s in sizes:  # a ring makes each block connected
        ring = torch.arange(start, start + s)
        chords[ring, ring.roll(1)] = True
        start += s
    a = torch.where(same & chords, weights, 0.0) + torch.where(same, 0.0, bridge)  # (n, n)
    a = (a + a.T) / 2  # symmetric: x, x' and x', x are the same pair of views
    a.fill_diagonal_(0)
    return a, component


def normalized_adjacency(a: torch.Tensor) -> torch.Tensor:
    """Ā = D^{−1/2} A D^{−1/2}, D = diag(w_x) with w_x = Σ_x' A_xx' (HaoChen et al. 2021, Sec. 3)."""
    d = a.sum(dim=1).rsqrt()  # (n,)
    return d[:, None] * a * d[None, :]


def population_spectral_loss(f: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    r"""L(f) = −2 Σ_{x,x'} w_xx' f(x)ᵀf(x') + Σ_{x,x'} w_x w_x' (f(x)ᵀf(x'))²  with Σ w_xx' = 1.

    The expectation of ``losses.spectral_contrastive`` when positive pairs are drawn with probability
    w_xx' and negatives independently from the marginal w_x; ``f`` ``(n, k)`` is one embedding per node.
    Equals ‖Ā − FFᵀ‖²_F − ‖Ā‖²_F with F = diag(√w) f (HaoChen et al. 2021, Lemma 3.2).
    """
    w_pair = a / a.sum()  # (n, n) joint distribution of positive pairs
    w = w_pair.sum(dim=1)  # (n,) marginal
    gram = f @ f.T  # (n, n) f(x)ᵀ f(x')
    return -2 * (w_pair * gram).sum() + (w[:, None] * w[None, :] * gram.pow(2)).sum()


def spectral_minimiser(a: torch.Tensor, k: int, *, seed: int = 0, steps: int = 200) -> torch.Tensor:
    """f ``(n, k)`` minimising ``population_spectral_loss`` from a random start (L-BFGS, float64)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(a.shape[0], check_int(k, "k", "spectral_minimiser"), generator=g, dtype=torch.float64)
    f.requires_grad_(True)
    optimiser = torch.optim.LBFGS([f], lr=1, max_iter=steps, tolerance_grad=1e-12, tolerance_change=1e-15,
                                  line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        optimiser.zero_grad()
        loss = population_spectral_loss(f, a)
        loss.backward()
        return loss

    optimiser.step(closure)
    return f.detach()


def top_eigenvectors(a: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest eigenvalues ``(k,)`` of Ā and their eigenvectors ``(n, k)``, largest first."""
    values, vectors = torch.linalg.eigh(normalized_adjacency(a))  # ascending
    return values.flip(0)[:k], vectors.flip(1)[:, :k]


def span_distance(f: torch.Tensor, a: torch.Tensor, k: int) -> float:
    """‖P_F − P_U‖₂: 0 when the columns of F = diag(√w) f span the top-k eigenvectors U of Ā, 1 when some
    direction of one is orthogonal to the other (the sine of the largest principal angle)."""
    w = a.sum(dim=1) / a.sum()  # (n,)
    basis_f, _ = torch.linalg.qr(w.sqrt()[:, None] * f)  # (n, k) orthonormal basis of span F
    _, u = top_eigenvectors(a, k)
    gap = basis_f @ basis_f.T - u @ u.T  # (n, n) difference of the two projections
    return float(torch.linalg.matrix_norm(gap, ord=2))


def graph_probe(f: torch.Tensor, labels) -> float:
    """Training accuracy of a linear probe on the node embeddings f ``(n, k)``: can a line read ``labels``?"""
    labels = check_labels(labels, len(labels), "labels", "graph_probe")
    return probes.linear_probe(f.float(), labels, f.float(), labels)
