"""Supervised contrastive loss (SupCon), the "all anchors", positives-outside-the-log variant."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast._validation import (
    check_embeddings,
    check_labels,
    check_temperature,
    fail,
    reads_tensor_values,
    store_temperature,
    temperature_repr,
)
from edu_contrast.losses._common import drop_diagonal, normalize


def supcon(
    features: torch.Tensor,
    labels=None,
    *,
    temperature: float | torch.Tensor = 0.07,
    base_temperature: float | torch.Tensor = 0.07,
) -> torch.Tensor:
    r"""SupCon: every view is an anchor, and every other view with its label is a positive.

        ℓ_i = −(1/|P(i)|) Σ_{p ∈ P(i)} log [ exp(s_ip/τ) / Σ_{a ∈ A(i)} exp(s_ia/τ) ]
        L   = (τ/τ_b) · mean_i ℓ_i

    over the N·V views of the batch: A(i) is every view but i itself, P(i) ⊂ A(i) the views
    whose sample has the label of i. The positives are averaged outside the log (L^sup_out).

    Args:
        features: z, shape ``(N, V, d)``: V views of each of N samples.
        labels: y, shape ``(N,)`` integer class labels, or ``None`` for the self-supervised
            case where only the other views of the same sample are positives (then V ≥ 2).
        temperature: τ > 0: a number, or a one-element tensor such as an ``nn.Parameter`` that
            receives the gradient ∂L/∂τ.
        base_temperature: τ_b > 0 (a number or a one-element tensor, like τ); the loss is scaled by
            τ/τ_b as in the reference code.

    Returns:
        The 0-dim loss L. With V = 2, ``labels=None`` and τ_b = τ it equals ``nt_xent``.
        Anchors without any positive (a label seen once, with V = 1) are left out of the mean.

    Defined in Khosla et al. 2020, "Supervised Contrastive Learning", Eq. 2.
    """
    where = "supcon"
    temperature = check_temperature(temperature, "temperature", where)
    base_temperature = check_temperature(base_temperature, "base_temperature", where)
    check_embeddings(features, "features", where, ndim=3, min_rows=2, shape_hint="(batch, views, dim)")
    n, views, _ = features.shape
    if labels is None:
        if views < 2:
            fail(
                "features",
                where,
                "of shape (batch, views >= 2, dim) when labels is None",
                f"shape {tuple(features.shape)}",
            )
        labels = torch.arange(n)  # each sample is its own class
    labels = check_labels(labels, n, "labels", where).to(features.device)

    z = normalize(features).reshape(n * views, -1)  # (NV, d): row i·V + v is view v of sample i
    anchor_labels = labels.repeat_interleave(views)  # (NV,)
    logits = drop_diagonal(torch.einsum("id,jd->ij", z, z) / temperature)  # (NV, NV − 1): a ∈ A(i)
    positive = drop_diagonal(anchor_labels[:, None] == anchor_labels[None, :])  # (NV, NV − 1): p ∈ P(i)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # (NV, NV − 1)
    num_positives = positive.sum(dim=1)  # (NV,) |P(i)|
    has_positive = num_positives > 0  # (NV,)
    if reads_tensor_values() and not bool(has_positive.any()):  # fit's step skips this read (no sync)
        fail(
            "labels",
            where,
            "shared by at least two views (with one view per sample, repeat labels)",
            "all distinct",
        )
    # mean over P(i), then over the anchors with a positive; a mask, not indexing, so no host sync
    mean_log_prob = (log_prob * positive).sum(dim=1) / num_positives.clamp(min=1)  # (NV,), 0 where P(i) = ∅
    anchors = has_positive.sum().clamp(min=1)
    return -(temperature / base_temperature) * (mean_log_prob * has_positive).sum() / anchors


class SupConLoss(nn.Module):
    """``supcon`` as a module; it only stores τ and τ_b (an ``nn.Parameter`` is registered, so it learns)."""

    def __init__(
        self, temperature: float | torch.Tensor = 0.07, base_temperature: float | torch.Tensor = 0.07
    ):
        super().__init__()
        store_temperature(self, "temperature", temperature, "SupConLoss")
        store_temperature(self, "base_temperature", base_temperature, "SupConLoss")

    def forward(self, features, labels=None):
        return supcon(features, labels, temperature=self.temperature, base_temperature=self.base_temperature)

    def extra_repr(self) -> str:
        tau, base = temperature_repr(self.temperature), temperature_repr(self.base_temperature)
        return f"temperature={tau}, base_temperature={base}"
