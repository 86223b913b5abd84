r"""BYOL with its two asymmetries as switches, to show what each one prevents (notebooks 04 and 06).

    p = q_θ(z) if ``predictor`` else z,   z = g_θ(f_θ(x))
    stop_gradient=True:   L = ‖p̂(x1) − sg(ẑ'(x2))‖² + ‖p̂(x2) − sg(ẑ'(x1))‖²,  z' = g_ξ(f_ξ(x)), the EMA target
    stop_gradient=False:  L = ‖p̂(x1) − ẑ(x2)‖² + ‖p̂(x2) − ẑ(x1)‖²,  the target is the online z itself,
                          with gradient (the target network is not used)

(Grill et al. 2020, "Bootstrap your own latent", Sec. 3 and the ablations of Sec. 5.) Both switches on is
exactly ``methods.BYOL``. Without predictor and stop-gradient nothing stops every image from being sent
to the same point, which makes the loss 0: complete collapse.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import fail
from edu_contrast.methods.base import loss_precision
from edu_contrast.methods.byol import BYOL


class BYOLAblation(BYOL):
    r"""``methods.BYOL`` with switches for the predictor q_θ and the stop-gradient onto the target.

    Args:
        encoder: f_θ. hidden_dim, out_dim, num_layers: g. predictor_hidden_dim: q's hidden width.
        base_momentum: τ_base in [0, 1] of the target's EMA (1 freezes the target at its random start).
        predictor: use q_θ (False: p = z). stop_gradient: regress onto sg(target network) (False: onto
            the online z, with gradient into both branches).
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
        predictor: bool = True,
        stop_gradient: bool = True,
    ):
        super().__init__(
            encoder,
            hidden_dim=hidden_dim,
            out_dim=out_dim,
            num_layers=num_layers,
            predictor_hidden_dim=predictor_hidden_dim,
            base_momentum=base_momentum,
        )
        for name, value in (("predictor", predictor), ("stop_gradient", stop_gradient)):
            if not isinstance(value, bool):
                fail(name, "BYOLAblation", "True or False", repr(value), TypeError)
        self.use_predictor, self.stop_gradient = predictor, stop_gradient
        if not predictor:
            self.predictor = nn.Identity()  # p = z

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The symmetric BYOL loss with the switched-off parts removed; ``labels`` are ignored."""
        if self.stop_gradient:
            return super().loss(x1, x2)
        self._check_views(x1, x2)
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        p1, p2 = self.predictor(z1), self.predictor(z2)  # (B, out_dim) each
        with loss_precision(p1):
            # ‖p̂ − ẑ‖² = 2 − 2 cos(p, z): the BYOL loss with the gradient flowing into both branches
            return losses.alignment(p1, z2) + losses.alignment(p2, z1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, predictor={self.use_predictor}, stop_gradient={self.stop_gradient}"
