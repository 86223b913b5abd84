"""Wang & Isola's two properties of embeddings on the hypersphere, as differentiable losses.

``edu_contrast.diagnostics`` has the same quantities as floats for large N (no gradient).
"""

from __future__ import annotations

import math

import torch

from edu_contrast._validation import check_embeddings, check_positive, check_same_shape
from edu_contrast.losses._common import normalize, safe_pow


def alignment(z1: torch.Tensor, z2: torch.Tensor, *, alpha: float = 2) -> torch.Tensor:
    r"""Alignment: how far apart the two views of a sample land.

        L_align = (1/N) Σ_i ‖ẑ1_i − ẑ2_i‖^α

    Args:
        z1: first views, shape ``(N, d)`` (normalised here).
        z2: second views, shape ``(N, d)``.
        alpha: α > 0, the power of the distance (2 in most uses).

    Returns:
        The 0-dim loss, in [0, 2^α]; 0 when both views coincide.

    Defined in Wang & Isola 2020, "Understanding Contrastive Representation Learning through
    Alignment and Uniformity on the Hypersphere", Sec. 4.1 (L_align).
    """
    where = "alignment"
    alpha = check_positive(alpha, "alpha", where)
    check_embeddings(z1, "z1", where)
    check_embeddings(z2, "z2", where)
    check_same_shape(z1, z2, "z1", "z2", where)
    squared = (normalize(z1) - normalize(z2)).pow(2).sum(dim=1)  # (N,) ‖ẑ1_i − ẑ2_i‖²
    return safe_pow(squared, alpha / 2).mean()  # gradient 0, not NaN, at identical views


def uniformity(z: torch.Tensor, *, t: float = 2) -> torch.Tensor:
    r"""Uniformity: log of the mean Gaussian potential between all pairs of embeddings.

        L_uniform = log [ (2 / (N(N−1))) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²) ],
        with ‖ẑ_i − ẑ_j‖² = ‖ẑ_i‖² + ‖ẑ_j‖² − 2 s_ij  (= 2 − 2 s_ij on the sphere)

    computed as a log-sum-exp over the N(N−1)/2 pairs, so it stays finite for any t.

    Args:
        z: embeddings, shape ``(N, d)``, N ≥ 2 (normalised here).
        t: t > 0, the sharpness of the Gaussian kernel.

    Returns:
        The 0-dim loss, in [−4t, 0]: 0 when all embeddings coincide, lower is more uniform.

    Defined in Wang & Isola 2020, Sec. 4.1 (L_uniform).
    """
    where = "uniformity"
    t = check_positive(t, "t", where)
    check_embeddings(z, "z", where, min_rows=2)
    z = normalize(z)
    n = z.shape[0]
    similarity = torch.einsum("id,jd->ij", z, z)  # (N, N) s_ij
    i, j = torch.triu_indices(n, n, offset=1, device=z.device)  # the N(N−1)/2 pairs i < j
    sq_norm = similarity.diagonal()  # (N,) ‖ẑ_i‖²: 1, or 0 for an all-zero row (as diagnostics.uniformity)
    squared_distance = sq_norm[i] + sq_norm[j] - 2 * similarity[i, j]  # (N(N−1)/2,)
    return torch.logsumexp(-t * squared_distance, dim=0) - math.log(n * (n - 1) / 2)
