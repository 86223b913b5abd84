"""The pairwise margin ("contrastive") loss of metric learning, on raw Euclidean distances."""

from __future__ import annotations

import torch

from edu_contrast._validation import check_embeddings, check_positive, check_same_shape, fail
from edu_contrast.losses._common import safe_pow, to_compute


def margin_contrastive(
    x1: torch.Tensor, x2: torch.Tensor, is_positive, *, margin: float = 1.0
) -> torch.Tensor:
    r"""Margin loss on pairs: pull positives together, push negatives beyond the margin.

        d_i = ‖x1_i − x2_i‖,    L = (1/N) Σ_i [ y_i d_i² + (1 − y_i) max(0, m − d_i)² ]

    Distances are Euclidean on the raw vectors (no normalisation onto the hypersphere).

    Args:
        x1: first elements of the pairs, shape ``(N, d)``.
        x2: second elements, shape ``(N, d)``.
        is_positive: y, shape ``(N,)``: 1/True for a similar pair, 0/False for a dissimilar one
            (bool, integer or float 0/1 values).
        margin: m > 0; dissimilar pairs farther apart than m cost nothing.

    Returns:
        The 0-dim loss L.

    Defined in Chopra, Hadsell & LeCun 2005 and Hadsell, Chopra & LeCun 2006, Eq. 4
    (written here without the ½ factors and with y = 1 for the similar pairs).
    """
    where = "margin_contrastive"
    margin = check_positive(margin, "margin", where)
    check_embeddings(x1, "x1", where)
    check_embeddings(x2, "x2", where)
    check_same_shape(x1, x2, "x1", "x2", where)
    y = _check_pair_labels(is_positive, x1.shape[0]).to(device=x1.device, dtype=to_compute(x1).dtype)
    squared = (to_compute(x1) - to_compute(x2)).pow(2).sum(dim=1)  # (N,) d_i²
    distance = safe_pow(squared, 0.5)  # (N,) d_i, gradient 0 (not NaN) at d = 0
    per_pair = y * squared + (1 - y) * torch.clamp(margin - distance, min=0).pow(2)  # (N,)
    return per_pair.mean()


def _check_pair_labels(is_positive, n: int) -> torch.Tensor:
    where = "margin_contrastive"
    try:
        y = is_positive if isinstance(is_positive, torch.Tensor) else torch.as_tensor(is_positive)
    except (TypeError, ValueError, RuntimeError):
        fail("is_positive", where, "a tensor of 0/1 pair labels", f"{is_positive!r}", TypeError)
    if y.dtype.is_complex:
        fail("is_positive", where, "a bool, integer or float tensor of 0/1", f"dtype {y.dtype}", TypeError)
    if y.dim() != 1 or y.shape[0] != n:
        fail(
            "is_positive", where, f"a 1-D tensor of {n} pair labels (one per row)", f"shape {tuple(y.shape)}"
        )
    if not bool(((y == 0) | (y == 1)).all()):
        fail("is_positive", where, "0/1 or False/True for every pair", f"values {y.unique()[:6].tolist()}")
    return y
