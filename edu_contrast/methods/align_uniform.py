r"""Wang & Isola's loss optimised directly: alignment plus λ times uniformity (notebooks 03 and 04).

    z = g(f(x)),   L = L_align(z⁽¹⁾, z⁽²⁾; α) + λ · ½ [L_uniform(z⁽¹⁾; t) + L_uniform(z⁽²⁾; t)]

    L_align   = (1/B) Σ_i ‖ẑ⁽¹⁾_i − ẑ⁽²⁾_i‖^α,    L_uniform = log 2/(B(B−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²)

(Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and Uniformity
on the Hypersphere", Sec. 4.1 defines both terms, Sec. 5 trains encoders on their weighted sum.)
λ = 0 leaves the alignment alone, which a constant map minimises: complete collapse.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_positive
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class AlignUniform(ContrastiveMethod):
    r"""L = L_align(z⁽¹⁾, z⁽²⁾; α) + λ · ½ [L_uniform(z⁽¹⁾; t) + L_uniform(z⁽²⁾; t)] on z = g(f(x)).

    ``losses.alignment`` and ``losses.uniformity`` on the two views' projections. The paper uses
    λ = 1, α = 2, t = 2.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the projection head g.
        weight: λ ≥ 0. alpha: α > 0. t: t > 0.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        weight: float = 1.0,
        alpha: float = 2.0,
        t: float = 2.0,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "AlignUniform"
        self.weight = check_positive(weight, "weight", where, allow_zero=True)
        self.alpha = check_positive(alpha, "alpha", where)
        self.t = check_positive(t, "t", where)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """L_align + λ · mean uniformity of the two views; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        with loss_precision(z1):
            align = losses.alignment(z1, z2, alpha=self.alpha)
            if self.weight == 0:
                return align
            uniform = 0.5 * (losses.uniformity(z1, t=self.t) + losses.uniformity(z2, t=self.t))
            return align + self.weight * uniform

    def extra_repr(self) -> str:
        return f"weight={self.weight}, alpha={self.alpha}, t={self.t}"
