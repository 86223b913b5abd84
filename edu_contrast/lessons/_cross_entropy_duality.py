"""Notebook 07, section 3: cross-entropy of a cosine classifier is InfoNCE against class prototypes
(the "contrastive–softmax duality"); ``lessons.supcon`` re-exports ``cross_entropy_as_info_nce``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast import losses
from edu_contrast._validation import check_embeddings, check_labels, fail

__all__ = ["cross_entropy_as_info_nce"]


def cross_entropy_as_info_nce(z: torch.Tensor, prototypes: torch.Tensor, labels, *, temperature: float = 0.1):
    r"""Cross-entropy of a cosine classifier written as InfoNCE against class prototypes.

        −log [ exp(ẑ_i·ŵ_{y_i}/τ) / Σ_c exp(ẑ_i·ŵ_c/τ) ] = InfoNCE(q = z_i, k⁺ = w_{y_i}, k⁻ = {w_c: c ≠ y_i})

    The query is the embedding, the positive key its class prototype, the negatives the other
    C − 1 prototypes: ``losses.info_nce`` with per-query negatives ``(N, C−1, d)``. Equal to
    ``F.cross_entropy(ẑ Ŵᵀ / τ, y)`` (the seed's "contrastive–softmax duality").

    Args:
        z: embeddings, shape ``(N, d)``.  prototypes: W, shape ``(C, d)``.  labels: y, ``(N,)`` in [0, C).
        temperature: τ > 0.
    """
    where = "cross_entropy_as_info_nce"
    check_embeddings(z, "z", where)
    check_embeddings(prototypes, "prototypes", where, min_rows=2, shape_hint="(classes, dim)")
    labels = check_labels(labels, z.shape[0], "labels", where).to(z.device)
    num_classes = prototypes.shape[0]
    if prototypes.shape[1] != z.shape[1]:
        fail(
            "prototypes",
            where,
            f"of shape (classes, {z.shape[1]}) like z's rows",
            f"shape {tuple(prototypes.shape)}",
        )
    if labels.min() < 0 or labels.max() >= num_classes:
        fail(
            "labels", where, f"in [0, {num_classes})", f"values in [{int(labels.min())}, {int(labels.max())}]"
        )
    others = ~F.one_hot(labels, num_classes).bool()  # (N, C): True for c ≠ y_i
    negatives = prototypes[None].expand(z.shape[0], -1, -1)[others]  # (N·(C−1), d)
    negatives = negatives.reshape(z.shape[0], num_classes - 1, -1)  # (N, C−1, d)
    return losses.info_nce(z, prototypes[labels], negatives, temperature=temperature)
