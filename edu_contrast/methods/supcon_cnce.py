"""SupCon plus a class-conditional InfoNCE term: labels that group classes without collapsing them."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_positive, store_temperature, temperature_repr
from edu_contrast.distributed import gather, gather_with_grad
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class SupConCNCE(ContrastiveMethod):
    r"""SupCon + α · class-conditional NT-Xent (Chen, Fu et al. 2022, "Perfectly Balanced").

        L = L_SupCon(z, y; τ, τ_b) + α · L_cNCE(z1, z2, y; τ)

    over the 2N projections z = g(f(x)) of both views. L_SupCon is ``losses.supcon`` (Khosla et al.
    2020, Eq. 2): every view of class y is a positive, so at its optimum each class is one point
    (class collapse, Graf et al. 2021). L_cNCE is ``losses.class_conditional_nt_xent``: the positive is
    the other view of the same image and the negatives are only the *other images of the same class*,
    so it pushes the members of a class apart and keeps what tells them apart (their subclasses).
    Chen, Fu et al. 2022 combine the two terms with a weight α; α = 0 here is SupCon exactly.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        temperature: τ > 0 of both terms: a number, or an ``nn.Parameter`` to learn τ.
        base_temperature: τ_b > 0 of SupCon, a number or an ``nn.Parameter`` like τ.
        alpha: α ≥ 0, the weight of the class-conditional term.

    ``labels`` are required (both terms need the classes).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.1,
        base_temperature: float | torch.Tensor = 0.1,
        alpha: float = 1.0,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        store_temperature(self, "temperature", temperature, "SupConCNCE")
        store_temperature(self, "base_temperature", base_temperature, "SupConCNCE")
        self.alpha = check_positive(alpha, "alpha", "SupConCNCE", allow_zero=True)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_SupCon + α·L_cNCE of the two views; ``labels`` y of shape ``(B,)`` are required."""
        labels = self._checked_labels(
            x1, x2, labels, "a tensor of class labels of shape (batch,) (both terms are supervised)"
        )
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        z1, z2, labels = gather_with_grad(z1), gather_with_grad(z2), gather(labels)  # (N, out_dim), (N,)
        with loss_precision(z1):
            features = torch.stack([z1, z2], dim=1)  # (N, 2, out_dim): two views per sample
            supcon = losses.supcon(
                features, labels, temperature=self.temperature, base_temperature=self.base_temperature
            )
            if self.alpha == 0:
                return supcon
            cnce = losses.class_conditional_nt_xent(z1, z2, labels, temperature=self.temperature)
            return supcon + self.alpha * cnce

    def extra_repr(self) -> str:
        tau, base = temperature_repr(self.temperature), temperature_repr(self.base_temperature)
        return f"temperature={tau}, base_temperature={base}, alpha={self.alpha}"
