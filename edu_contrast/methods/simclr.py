"""SimCLR: two augmented views, every other view in the (global) batch is a negative."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_positive, store_temperature, temperature_repr
from edu_contrast.distributed import gather_with_grad
from edu_contrast.losses.negatives import check_tau_plus
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class SimCLR(ContrastiveMethod):
    r"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations").

        z_i = g(f(x_i)),   ℓ_i = −log [ exp(s_{i i⁺}/τ) / Σ_{k ≠ i} exp(s_ik/τ) ],
        L = (1/2N) Σ_{i=1..2N} ℓ_i

    the NT-Xent loss (Eq. 1) over the 2N projections of the two views ``x1``, ``x2``; s is the
    cosine similarity and i⁺ the other view of sample i. Under DDP the projections of all
    processes are gathered (``distributed.gather_with_grad``), so N is the global batch.

    With a class prior τ⁺ > 0 the negative sum is Chuang et al. 2020's debiased estimate
    (``losses.debiased_nt_xent``: debiased SimCLR), with β > 0 also reweighted towards hard
    negatives as in Robinson et al. 2021 (``losses.hard_nt_xent``). τ⁺ = β = 0, the default, is NT-Xent.

    Args:
        encoder: f, any module with ``.feature_dim`` (``models.build_encoder``).
        hidden_dim, out_dim, num_layers: the MLP projection head g.
        temperature: τ > 0: a number, or an ``nn.Parameter`` to learn τ. A parameter is registered:
            ``method.parameters()`` (so the optimiser) include it, and the state dict saves it.
        tau_plus: τ⁺ ∈ [0, 1), the probability that a negative shares the anchor's class.
        beta: β ≥ 0, the concentration on hard negatives.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.5,
        tau_plus: float = 0.0,
        beta: float = 0.0,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        store_temperature(self, "temperature", temperature, "SimCLR")
        self.tau_plus = check_tau_plus(tau_plus, "SimCLR")
        self.beta = check_positive(beta, "beta", "SimCLR", allow_zero=True)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """NT-Xent (debiased / hard-negative with τ⁺, β) of the projections; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each, B = this process's batch
        z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (N, out_dim), N = global batch
        with loss_precision(z1):
            if self.tau_plus == 0 and self.beta == 0:
                return losses.nt_xent(z1, z2, temperature=self.temperature)
            # β = 0 is the debiased loss itself, so one call covers both papers
            return losses.hard_nt_xent(
                z1, z2, temperature=self.temperature, tau_plus=self.tau_plus, beta=self.beta
            )

    def extra_repr(self) -> str:
        negatives = f", tau_plus={self.tau_plus}, beta={self.beta}" if self.tau_plus or self.beta else ""
        return f"temperature={temperature_repr(self.temperature)}{negatives}"
