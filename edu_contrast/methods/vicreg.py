"""VICReg: pull the two views together, keep every dimension alive and decorrelated."""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_positive
from edu_contrast.distributed import gather_with_grad
from edu_contrast.methods.base import ContrastiveMethod, loss_precision


class VICReg(ContrastiveMethod):
    r"""Variance-Invariance-Covariance Regularization (Bardes, Ponce & LeCun 2022, "VICReg").

        L = λ_I·s(Z, Z') + λ_V·[v(Z) + v(Z')] + λ_C·[c(Z) + c(Z')]      (Eq. 6)

    with Z = g(f(x1)) and Z' = g(f(x2)) (not normalised), s the mean squared distance of the
    pairs, v a hinge on the standard deviation of each dimension and c the sum of squared
    off-diagonal covariances (``losses.vicreg``). Under DDP the embeddings of all processes are
    gathered, so the variance and covariance are over the global batch.

    Args:
        encoder: f, any module with ``.feature_dim``.
        hidden_dim, out_dim, num_layers: the expander g (the paper uses 3 wide layers).
        sim_weight: λ_I.  var_weight: λ_V.  cov_weight: λ_C (each ≥ 0).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 512,
        num_layers: int = 3,
        sim_weight: float = 25.0,
        var_weight: float = 25.0,
        cov_weight: float = 1.0,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "VICReg"
        self.sim_weight = check_positive(sim_weight, "sim_weight", where, allow_zero=True)
        self.var_weight = check_positive(var_weight, "var_weight", where, allow_zero=True)
        self.cov_weight = check_positive(cov_weight, "cov_weight", where, allow_zero=True)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The VICReg loss of the two views' expander outputs; ``labels`` are ignored."""
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        z1, z2 = gather_with_grad(z1), gather_with_grad(z2)  # (N, out_dim), N = global batch
        with loss_precision(z1):
            return losses.vicreg(
                z1, z2, sim_weight=self.sim_weight, var_weight=self.var_weight, cov_weight=self.cov_weight
            )

    def extra_repr(self) -> str:
        return f"sim_weight={self.sim_weight}, var_weight={self.var_weight}, cov_weight={self.cov_weight}"
