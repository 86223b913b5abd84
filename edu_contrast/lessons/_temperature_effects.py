r"""Notebook 02's check: on trained embeddings, a small τ puts the push on the anchor's own class.

Section 1 of the notebook shows, on fixed similarities, that a small τ gives almost all of the push
π_k = p_k / Σ_m p_m to the most similar negatives. That alone is a property of the softmax. What the
notebook teaches with it is what it does on real data: the most similar "negatives" of an image are
mostly images of its own class (false negatives: what Wang & Liu 2021 call the uniformity–tolerance
dilemma), so a small τ pushes the anchor away from its own class. For every test image i as the
anchor and every other test image k as a negative, with s_ik = ẑ_i·ẑ_k,

    π_ik(τ) = exp(s_ik/τ) / Σ_{m≠i} exp(s_im/τ),      same_class(τ) = (1/n) Σ_i Σ_{k≠i, y_k = y_i} π_ik(τ),

and the effect is same_class(small τ) − same_class(large τ): > 0 when the hardest negatives are the
anchor's own class, ≈ 0 when the labels say nothing about the similarities (shuffled labels, or an
embedding that does not group the classes), whatever τ does to the softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast._validation import check_embeddings, check_labels, check_positive, fail
from edu_contrast.lessons._checks import check_effect

__all__ = ["same_class_push", "hardness_effects", "check_effect"]


def same_class_push(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """same_class(τ): the mean over anchors of the share of the push π_ik on the anchor's own class.

    ``z`` ``(n, d)`` embeddings (normalised here), ``labels`` ``(n,)`` their classes, ``temperature`` τ.
    """
    where = "same_class_push"
    check_embeddings(z, "z", where, min_rows=2)
    temperature = check_positive(temperature, "temperature", where)
    labels = check_labels(labels, z.shape[0], "labels", where)
    u = F.normalize(z.detach().double(), dim=1)  # (n, d) ẑ
    s = u @ u.T  # (n, n) s_ik
    itself = torch.eye(len(u), dtype=torch.bool)  # (n, n) k = i is no negative of i
    push = torch.softmax((s / temperature).masked_fill(itself, float("-inf")), dim=1)  # (n, n) π_ik
    same = (labels[:, None] == labels[None, :]) & ~itself  # (n, n)
    return float((push * same).sum(dim=1).mean())


def hardness_effects(
    z: torch.Tensor, labels: torch.Tensor, *, small: float = 0.02, large: float = 1.0
) -> dict:
    """The check's effect and its parts: ``same_class_small``, ``same_class_large`` and the effect
    ``hard_negatives_same_class`` = same_class(``small``) − same_class(``large``) (module docstring).
    """
    if not small < large:
        fail("small", "hardness_effects", f"a temperature below large = {large}", small)
    at_small, at_large = same_class_push(z, labels, small), same_class_push(z, labels, large)
    return {
        "same_class_small": at_small,
        "same_class_large": at_large,
        "hard_negatives_same_class": at_small - at_large,
    }
