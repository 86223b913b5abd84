"""Small helpers the loss files share: compute dtype, normalisation, dropping the self-similarity.

Notation (``notebooks/00_notation.md``): ẑ = z / ‖z‖ and s_ij = ẑ_i · ẑ_j.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast._validation import check_embeddings, check_same_shape, check_temperature, compute_dtype


def to_compute(x: torch.Tensor) -> torch.Tensor:
    """Cast to float32 at least (float16/bfloat16 overflow in exp and underflow in ‖z‖²)."""
    return x.to(compute_dtype(x))


def normalize(z: torch.Tensor) -> torch.Tensor:
    """ẑ = z / ‖z‖ along the last axis, in the compute dtype (idempotent on unit vectors)."""
    return F.normalize(to_compute(z), dim=-1)


def drop_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """A square ``(n, n)`` matrix without its diagonal: ``(n, n - 1)``, row i keeps every j ≠ i in order.

    Selecting the off-diagonal entries instead of filling the diagonal with -inf keeps the
    log-sum-exp finite in every dtype and leaves no NaN in the gradient. The reshapes
    are views plus one copy, as fast as a masked fill (a boolean index is ~5x slower).
    """
    n = matrix.shape[0]
    after_first = matrix.flatten()[1:]  # (n² − 1,): diagonal entries now at (n + 1)·r − 1
    rows = after_first.view(n - 1, n + 1)[:, :-1]  # (n − 1, n): the last column held the diagonal
    return rows.reshape(n, n - 1)  # (n, n − 1)


def safe_pow(x: torch.Tensor, exponent: float) -> torch.Tensor:
    """x ** exponent for x ≥ 0, with value and gradient 0 where x = 0.

    ``sqrt`` and ``pow`` with exponent < 1 have an infinite slope at 0; identical views
    (distance exactly 0) must not turn the gradient into NaN. The inner ``where`` keeps
    the unused branch finite so its zero gradient stays zero.
    """
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).pow(exponent), 0.0)


def two_view_logits(z1, z2, temperature, where: str):
    """Checked inputs as NT-Xent's 2N anchors' logits; returns ``(positive, negatives, τ)``.

    positive: ``(2N,)``, s_{i i⁺}/τ. negatives: ``(2N, 2N − 2)``, s_ik/τ; for an anchor of view 1
    the columns are the other samples' view 1 then their view 2, for view 2 the other way round.
    """
    temperature = check_temperature(temperature, "temperature", where)
    check_embeddings(z1, "z1", where, min_rows=2)
    check_embeddings(z2, "z2", where, min_rows=2)
    check_same_shape(z1, z2, "z1", "z2", where)
    z1, z2 = normalize(z1), normalize(z2)  # (N, d)
    s11 = torch.einsum("id,jd->ij", z1, z1) / temperature  # (N, N)
    s22 = torch.einsum("id,jd->ij", z2, z2) / temperature  # (N, N)
    s12 = torch.einsum("id,jd->ij", z1, z2) / temperature  # (N, N), positives on the diagonal
    positive = s12.diagonal().repeat(2)  # (2N,): the same pair for both views' anchors
    negatives_1 = torch.cat([drop_diagonal(s11), drop_diagonal(s12)], dim=1)  # (N, 2N − 2)
    negatives_2 = torch.cat([drop_diagonal(s22), drop_diagonal(s12.T)], dim=1)  # (N, 2N − 2)
    return positive, torch.cat([negatives_1, negatives_2]), temperature  # (2N,), (2N, 2N − 2)
