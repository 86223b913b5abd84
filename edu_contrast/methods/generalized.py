r"""The generalized contrastive loss: alignment plus λ times a distribution-matching term (notebooks 03, 08).

    z = g(f(x)),   L = L_pos + λ · L_dist          (Chen, Luo & Li 2021, "Intriguing Properties of
                                                      Contrastive Losses", Eq. 2–4)

With ``distribution="lse"``, L_pos = −(1/2N) Σ_i s_{ii⁺}/τ and L_dist = (1/2N) Σ_i log Σ_{k≠i} exp(s_ik/τ):
λ = 1 is exactly SimCLR's NT-Xent, λ = 0 is alignment only (collapse), λ > 1 spreads harder. With
``distribution="swd"``, L_dist is the sliced Wasserstein distance of z to samples of a prior
(``losses.sliced_wasserstein``): uniform on the hypersphere, uniform in the hypercube, or normal.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_choice, check_positive, store_temperature, temperature_repr
from edu_contrast.losses.generalized import DISTRIBUTIONS, PRIORS
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class Generalized(ContrastiveMethod):
    r"""L = L_pos + λ · L_dist of the views' projections z = g(f(x)) (``losses.generalized_contrastive``).

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        weight: λ ≥ 0. distribution: "lse" or "swd". prior: the SWD prior
            ("hypersphere", "hypercube" or "normal"; "lse" matches only the hypersphere).
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
        weight: float = 1.0,
        temperature: float | torch.Tensor = 0.5,
        distribution: str = "lse",
        prior: str = "hypersphere",
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "Generalized"
        self.weight = check_positive(weight, "weight", where, allow_zero=True)
        store_temperature(self, "temperature", temperature, where)
        self.distribution = check_choice(distribution, "distribution", where, DISTRIBUTIONS)
        self.prior = check_choice(prior, "prior", where, PRIORS)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_pos + λ·L_dist of the two views' projections; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        with loss_precision(z1):
            return losses.generalized_contrastive(
                z1,
                z2,
                distribution=self.distribution,
                prior=self.prior,
                weight=self.weight,
                temperature=self.temperature,
            )

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, temperature={temperature_repr(self.temperature)}, "
            f"distribution={self.distribution!r}, prior={self.prior!r}"
        )
