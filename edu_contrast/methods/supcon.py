"""SupCon: SimCLR's two views plus labels; every view of the same class is a positive."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import store_temperature, temperature_repr
from edu_contrast.distributed import gather, gather_with_grad
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class SupCon(ContrastiveMethod):
    r"""Supervised contrastive learning (Khosla et al. 2020, "Supervised Contrastive Learning").

        ℓ_i = −(1/|P(i)|) Σ_{p ∈ P(i)} log [ exp(s_ip/τ) / Σ_{a ∈ A(i)} exp(s_ia/τ) ],
        L = (τ/τ_b) mean_i ℓ_i

    (L^sup_out, Eq. 2) over the 2N projections z = g(f(x)) of both views: A(i) is every other
    view, P(i) the views whose label equals the label of view i. Under DDP the projections and
    labels of all processes are gathered, so N is the global batch.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        temperature: τ > 0: a number, or an ``nn.Parameter`` to learn τ. A parameter is registered:
            ``method.parameters()`` (so the optimiser) include it, and the state dict saves it.
        base_temperature: τ_b > 0, a number or an ``nn.Parameter`` like τ.

    ``labels`` are required: without them SupCon is SimCLR, so use ``SimCLR`` instead.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.07,
        base_temperature: float | torch.Tensor = 0.07,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        store_temperature(self, "temperature", temperature, "SupCon")
        store_temperature(self, "base_temperature", base_temperature, "SupCon")

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """SupCon loss of the two views; ``labels`` y of shape ``(B,)`` are required."""
        labels = self._checked_labels(
            x1,
            x2,
            labels,
            "a tensor of class labels of shape (batch,) (SupCon is supervised; "
            "for the self-supervised loss use SimCLR)",
        )
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        features = torch.stack([z1, z2], dim=1)  # (B, 2, out_dim): two views per sample
        features, labels = gather_with_grad(features), gather(labels)  # (N, 2, out_dim), (N,)
        with loss_precision(features):
            return losses.supcon(
                features, labels, temperature=self.temperature, base_temperature=self.base_temperature
            )

    def extra_repr(self) -> str:
        tau, base = temperature_repr(self.temperature), temperature_repr(self.base_temperature)
        return f"temperature={tau}, base_temperature={base}"
