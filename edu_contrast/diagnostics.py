"""Diagnostics: floats that describe a batch of embeddings (no gradient, any N).

Notation (``notebooks/00_notation.md``): z are embeddings of shape (N, d), ẑ = z / ‖z‖ their
projection on the unit hypersphere, σ singular values. Every function here runs under
``torch.no_grad()`` and returns a Python float (``singular_spectrum`` returns the spectrum itself).

``uniformity`` is exact for tens of thousands of rows without ever holding the N×N distance
matrix: it walks over blocks of rows, visits each pair i < j once and keeps a streaming
log-sum-exp in float64.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast._validation import (
    check_embeddings,
    check_int,
    check_positive,
    check_same_shape,
    compute_dtype,
    fail,
)

__all__ = ["alignment", "uniformity", "effective_rank", "singular_spectrum", "positive_cosine"]

# Elements in one block of the pair matrix: 2**24 float64 values are 128 MiB.
_BLOCK_ELEMENTS = 2**24


def _unit_rows(z: torch.Tensor) -> torch.Tensor:
    """ẑ in float64 (a new tensor; the caller's z is never touched). A zero row stays zero."""
    return F.normalize(z.detach().to(torch.float64), dim=1)


def _row_blocks(n_rows: int, block_rows: int):
    """(start, stop) of consecutive row blocks covering range(n_rows)."""
    for start in range(0, n_rows, block_rows):
        yield start, min(start + block_rows, n_rows)


def _default_block_rows(n_columns: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, n_columns))


def _merge(running: tuple[float, float], v: torch.Tensor) -> tuple[float, float]:
    """Fold a block of exponents v (any shape; overwritten) into a streaming log-sum-exp (m, S).

    log Σ exp(v) over everything seen = m + log S, with m the largest exponent so far, so every
    exp(v − m) ≤ 1 and the block sums are added in float64 without overflow or underflow.
    """
    if v.numel() == 0:
        return running
    running_max, running_sum = running
    block_max = float(v.max())
    block_sum = float(v.sub_(block_max).exp_().sum())  # in place: no second block in memory
    new_max = max(running_max, block_max)
    new_sum = running_sum * math.exp(running_max - new_max) + block_sum * math.exp(block_max - new_max)
    return new_max, new_sum


@torch.no_grad()
def alignment(
    z1: torch.Tensor, z2: torch.Tensor, *, alpha: float = 2, _block_rows: int | None = None
) -> float:
    r"""ℒ_align = 1/N Σ_i ‖ẑ1_i − ẑ2_i‖^α, the mean distance between positive pairs on the sphere.

    Defined in Wang & Isola 2020, "Understanding Contrastive Representation Learning through
    Alignment and Uniformity on the Hypersphere", Sec. 4.1 (with the expectation over positive pairs
    replaced by the mean over the N rows). Lower is better; 0 means every pair coincides, 2^α
    means every pair is antipodal.

    Args:
        z1: (N, d) embeddings of the first views, z1_i; normalised here to ẑ1_i.
        z2: (N, d) embeddings of the second views, row i is the positive of ``z1[i]``.
        alpha: α > 0, the power of the distance (the paper uses α = 2).

    Returns:
        float, computed in float64 over blocks of rows (memory O(block · d)).
    """
    where = "alignment"
    check_embeddings(z1, "z1", where)
    check_embeddings(z2, "z2", where)
    check_same_shape(z1, z2, "z1", "z2", where)
    alpha = check_positive(alpha, "alpha", where)
    block_rows = _default_block_rows(z1.shape[1]) if _block_rows is None else _block_rows
    block_rows = check_int(block_rows, "_block_rows", where)
    total = 0.0
    for start, stop in _row_blocks(z1.shape[0], block_rows):
        distance = (_unit_rows(z1[start:stop]) - _unit_rows(z2[start:stop])).norm(dim=1)  # (block,)
        total += float(distance.pow(alpha).sum())
    return total / z1.shape[0]


@torch.no_grad()
def uniformity(z: torch.Tensor, *, t: float = 2, _block_rows: int | None = None) -> float:
    r"""ℒ_uniform = log [ 2/(N(N−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²) ], the log mean Gaussian potential.

    Defined in Wang & Isola 2020, "Understanding Contrastive Representation Learning through
    Alignment and Uniformity on the Hypersphere", Sec. 4.1 (the expectation over independent pairs
    replaced by the mean over the N(N−1)/2 pairs i < j). Lower is more uniform; 0 means every
    point coincides (collapse).

    Exact, yet memory-bounded: rows are taken in blocks; block [a, b) meets the columns j > i only
    (the upper triangle), with ‖ẑ_i − ẑ_j‖² = ‖ẑ_i‖² + ‖ẑ_j‖² − 2 ẑ_i·ẑ_j (= 2 − 2 ẑ_i·ẑ_j on the
    sphere), and the sum of exponentials is kept as a streaming log-sum-exp in float64, so no N×N
    matrix is held and nothing underflows for large t. Pairs are computed in float32 (float64 for
    float64 z): |error| ≈ 1e-6 for float32 z, float64 round-off for float64 z. 50 000 × 128 takes
    ~4 s and ~0.2 GB extra on 2 idle CPU cores (``benchmarks/bench_diagnostics.py``).

    Args:
        z: (N, d) embeddings z_i with N ≥ 2; normalised here to ẑ_i.
        t: t > 0, the scale of the Gaussian potential (the paper uses t = 2).

    Returns:
        float in [−4t, 0].
    """
    where = "uniformity"
    check_embeddings(z, "z", where, min_rows=2)
    t = check_positive(t, "t", where)
    n = z.shape[0]
    block_rows = _default_block_rows(n) if _block_rows is None else _block_rows
    block_rows = check_int(block_rows, "_block_rows", where)

    z_hat = F.normalize(z.detach().to(compute_dtype(z)), dim=1)  # (N, d) float32, or float64 for float64 z
    sq_norm = z_hat.pow(2).sum(dim=1)  # (N,) 1 on the sphere, 0 for a zero row
    running = (-math.inf, 0.0)  # (m, S) with log Σ exp(v) = m + log S over the pairs seen so far
    for start, stop in _row_blocks(n, block_rows):
        rows = z_hat[start:stop]  # (b, d)
        # Diagonal square: the pairs start <= i < j < stop.
        i, j = torch.triu_indices(stop - start, stop - start, offset=1, device=z.device)
        square = torch.addmm(-t * sq_norm[start:stop], rows, rows.T, alpha=2 * t)  # (b, b)
        running = _merge(running, square[i, j] - t * sq_norm[start:stop][i])  # (b(b-1)/2,)
        # Rectangle: rows i in [start, stop), every column j >= stop.
        v = torch.addmm(-t * sq_norm[stop:], rows, z_hat[stop:].T, alpha=2 * t)  # (b, N - stop)
        running = _merge(running, v.sub_(t * sq_norm[start:stop, None]))

    log_sum, n_pairs = running[0] + math.log(running[1]), n * (n - 1) / 2
    return min(0.0, log_sum - math.log(n_pairs))  # min: round-off must not leave [−4t, 0]


@torch.no_grad()
def effective_rank(z: torch.Tensor) -> float:
    r"""erank(z) = exp(H(p)),  H(p) = −Σ_k p_k log p_k,  p_k = σ_k / Σ_l σ_l.

    Defined in Roy & Vetterli 2007, "The effective rank: a measure of effective dimensionality"
    (EUSIPCO), as the exponential of the Shannon entropy of the normalised spectrum. σ_k are the
    singular values of z itself (not centred, as in the paper). The value lies in [1, min(N, d)]:
    k equal non-zero singular values give exactly k, a rank-1 z gives 1. Invariant to scaling z
    and to rotating it (z → Qz or z → zQ with Q orthogonal). A falling effective rank during
    training is the symptom of dimensional collapse (Hua et al. 2021).

    Args:
        z: (N, d) embeddings, not all zero.

    Returns:
        float. Raises ValueError for an all-zero z, whose p is undefined.
    """
    where = "effective_rank"
    check_embeddings(z, "z", where)
    sigma = torch.linalg.svdvals(z.detach().to(torch.float64))  # (min(N, d),) exact, fast for N >> d
    total = float(sigma.sum())
    if total == 0.0:
        fail(
            "z",
            where,
            "a tensor with a non-zero entry (all σ = 0 leaves p = σ/Σσ undefined)",
            f"an all-zero tensor of shape {tuple(z.shape)}",
        )
    p = sigma / total  # (min(N, d),)
    entropy = float(torch.special.entr(p).sum())  # entr(p) = −p log p, with 0 log 0 = 0
    return math.exp(entropy)


@torch.no_grad()
def singular_spectrum(z: torch.Tensor) -> torch.Tensor:
    r"""σ_1 ≥ σ_2 ≥ … ≥ σ_min(N,d): singular values of the centred embeddings z − z̄.

    z̄ = 1/N Σ_i z_i is the mean embedding. σ_k² / (N − 1) are the eigenvalues of the embedding
    covariance, whose collapse (a sharp drop after the first few values) is dimensional collapse
    (Jing et al. 2022, "Understanding Dimensional Collapse in Contrastive Self-supervised Learning";
    Hua et al. 2021). Plot it on a log scale: ``viz.plot_spectrum``.

    Args:
        z: (N, d) embeddings with N ≥ 2.

    Returns:
        The one non-float diagnostic: a 1-D float64 CPU ``torch.Tensor`` of length min(N, d),
        in descending order.
    """
    check_embeddings(z, "z", "singular_spectrum", min_rows=2)
    z64 = z.detach().to(torch.float64)
    centred = z64 - z64.mean(dim=0, keepdim=True)  # (N, d)
    return torch.linalg.svdvals(centred).cpu()  # (min(N, d),) descending


@torch.no_grad()
def positive_cosine(z1: torch.Tensor, z2: torch.Tensor) -> float:
    r"""1/N Σ_i cos(z1_i, z2_i) = 1/N Σ_i ẑ1_i · ẑ2_i, the mean cosine similarity of positive pairs.

    The quantity the numerator of InfoNCE (van den Oord et al. 2018) and NT-Xent (Chen et al. 2020, Eq. 1)
    pushes towards 1. On the sphere it is tied to alignment: ‖ẑ1 − ẑ2‖² = 2 − 2 ẑ1·ẑ2, so
    ``alignment(z1, z2, alpha=2) == 2 - 2 * positive_cosine(z1, z2)`` when no row is zero.

    Args:
        z1: (N, d) embeddings of the first views.
        z2: (N, d) embeddings of the second views, row i is the positive of ``z1[i]``.

    Returns:
        float in [−1, 1] (a zero row counts as cosine 0).
    """
    where = "positive_cosine"
    check_embeddings(z1, "z1", where)
    check_embeddings(z2, "z2", where)
    check_same_shape(z1, z2, "z1", "z2", where)
    cosine = (_unit_rows(z1) * _unit_rows(z2)).sum(dim=1)  # (N,)
    return float(cosine.mean())
