"""BYOL: no negatives; an online network predicts a slowly moving target network."""

from __future__ import annotations

import math

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_positive, fail
from edu_contrast.methods.base import (
    ContrastiveMethod,
    check_progress,
    ema_update,
    frozen_copy,
    loss_precision,
)
from edu_contrast.models import Predictor


def target_momentum(progress: float, base_momentum: float = 0.99) -> float:
    r"""BYOL's cosine schedule for the target's EMA rate, from τ_base at the start to 1 at the end.

        τ = 1 − (1 − τ_base) · (cos(π · progress) + 1) / 2

    ``progress`` is k/K (step k of K), ``base_momentum`` is τ_base. Grill et al. 2020, Sec. 3.2.
    """
    progress = check_progress(progress, "target_momentum")
    base_momentum = _check_momentum(base_momentum, "base_momentum", "target_momentum")
    return 1 - (1 - base_momentum) * (math.cos(math.pi * progress) + 1) / 2


def _check_momentum(value, name: str, where: str) -> float:
    value = check_positive(value, name, where, allow_zero=True)
    if value > 1:
        fail(name, where, "in [0, 1]", value)
    return value


class BYOL(ContrastiveMethod):
    r"""Bootstrap Your Own Latent (Grill et al. 2020, "Bootstrap your own latent: A new approach to
    self-supervised learning").

        online:  p = q_θ(g_θ(f_θ(x))),    target: z' = g_ξ(f_ξ(x))   (no gradient)
        L = ‖p̂(x1) − ẑ'(x2)‖² + ‖p̂(x2) − ẑ'(x1)‖² = (2 − 2 cos(p(x1), z'(x2))) + (2 − 2 cos(p(x2), z'(x1)))

    the symmetric loss of Eq. 2 (each term averaged over the batch, so L ∈ [0, 8]). After every
    optimiser step ``on_step_end`` moves the target: ξ ← τ·ξ + (1 − τ)·θ with
    τ = 1 − (1 − τ_base)(cos(π·progress) + 1)/2 (``target_momentum``).

    Args:
        encoder: f_θ, any module with ``.feature_dim``; f_ξ starts as a copy of it.
        hidden_dim, out_dim, num_layers: the projection head g.
        predictor_hidden_dim: hidden width of the predictor q_θ.
        base_momentum: τ_base in [0, 1].
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        predictor_hidden_dim: int = 512,
        base_momentum: float = 0.99,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        self.base_momentum = _check_momentum(base_momentum, "base_momentum", "BYOL")
        self.predictor = Predictor(out_dim, hidden_dim=predictor_hidden_dim)
        self.target_encoder = frozen_copy(self.encoder)
        self.target_projector = frozen_copy(self.projector)

    @torch.no_grad()
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """z' = g_ξ(f_ξ(x)), shape ``(B, out_dim)``, without gradient."""
        return self.target_projector(self.target_encoder(x))

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The symmetric BYOL loss; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        p = self.predictor(torch.cat([z1, z2]))  # (2B, out_dim)
        p1, p2 = p[: x1.shape[0]], p[x1.shape[0] :]  # (B, out_dim) each
        t = self.target(torch.cat([x1, x2]))  # (2B, out_dim)
        t1, t2 = t[: x1.shape[0]], t[x1.shape[0] :]  # (B, out_dim) each
        with loss_precision(p):
            return losses.byol(p1, t2) + losses.byol(p2, t1)

    def on_step_end(self, progress: float) -> None:
        """EMA of the target: ξ ← τ·ξ + (1 − τ)·θ with τ = ``target_momentum(progress, base_momentum)``."""
        tau = target_momentum(progress, self.base_momentum)
        ema_update(self.target_encoder, self.encoder, tau)
        ema_update(self.target_projector, self.projector, tau)

    def extra_repr(self) -> str:
        return f"base_momentum={self.base_momentum}"
