"""Small helpers the loss files share: compute dtype, normalisation, dropping the self-similarity.

Notation (``notebooks/00_notation.md``): ẑ = z / ‖z‖ and s_ij = ẑ_i · ẑ_j.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast._validation import compute_dtype


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
