"""SimCLR: two augmented views, every other view in the (global) batch is a negative."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import store_temperature, temperature_repr
from edu_contrast.distributed import gather_with_grad
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class SimCLR(ContrastiveMethod):
    r"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations").

        z_i = g(f(x_i)),   ℓ_i = −log [ exp(s_{i i⁺}/τ) / Σ_{k ≠ i} exp(s_ik/τ) ],
        L = (1/2N) Σ_{i=1..2N} ℓ_i

    the NT-Xent loss (Eq. 1) over the 2N projections of the two views ``x1``, ``x2``; s is the
    cosine similarity and i⁺ the other view of sample i. Under DDP the projections of all
    processes are gathered (``distributed.gather_with_grad``), so N is the global batch.

    Args:
        encoder: f, any module with ``.feature_dim`` (``models.build_encoder``).
        hidden_dim, out_dim, num_layers: the MLP projection head g.
        temperature: τ > 0: a number, or an ``nn.Parameter`` to learn τ. A parameter is registered:
            ``method.parameters()`` (so the optimiser) include it, and the state dict saves it.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.5,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        store_temperature(self, "temperature", temperature, "SimCLR")

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """NT-Xent of the two views' projections; ``labels`` are ignored (self-supervised)."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each, B = this process's batch
        z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (N, out_dim), N = global batch
        with loss_precision(z1):
            return losses.nt_xent(z1, z2, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={temperature_repr(self.temperature)}"
