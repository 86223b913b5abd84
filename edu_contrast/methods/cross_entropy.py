r"""Supervised cross-entropy on the same augmented views, with a cosine (prototype) classifier (notebook 07).

    z = g(f(x̃)),   logit_c = ŵ_c · ẑ / τ,   L = −(1/2B) Σ_{views i} log softmax_c(logit_i)_{y_i}

W = (w_1, …, w_C) are learnable class prototypes (a bias-free linear classifier on ẑ whose rows are
normalised, "NormFace", Wang et al. 2017). With ẑ and ŵ on the sphere the loss is InfoNCE with the query
ẑ_i, the positive key ŵ_{y_i} and the C − 1 other prototypes as negatives
(``lessons.supcon.cross_entropy_as_info_nce``): the contrastive–softmax duality. Unlike SupCon, the views
of a class are never compared with each other, only with their prototype.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast._validation import check_int, compute_dtype, store_temperature, temperature_repr
from edu_contrast.methods.base import ContrastiveMethod


class CrossEntropyBaseline(ContrastiveMethod):
    r"""logit_c = ŵ_c · ẑ / τ on z = g(f(x̃)); L = cross-entropy of both views against their labels.

    Args:
        encoder: f, any module with ``.feature_dim``.
        num_classes: C ≥ 2 (10 for digits, Fashion-MNIST and CIFAR-10).
        hidden_dim, out_dim, num_layers: the projection head g (the same as SupCon's).
        temperature: τ > 0 of the cosine logits: a number, or an ``nn.Parameter`` to learn τ (registered:
            ``method.parameters()`` include it, the state dict saves it).
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        num_classes: int = 10,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.1,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "CrossEntropyBaseline"
        self.num_classes = check_int(num_classes, "num_classes", where, minimum=2)
        store_temperature(self, "temperature", temperature, where)
        self.prototypes = nn.Parameter(
            torch.randn(num_classes, out_dim) / math.sqrt(out_dim)
        )  # (C, out_dim) W

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """ŵ_c · ẑ / τ for projections z ``(B, out_dim)``: shape ``(B, C)``."""
        w = F.normalize(self.prototypes, dim=1)  # (C, out_dim)
        return torch.einsum("bd,cd->bc", F.normalize(z, dim=1), w) / self.temperature

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The classifier's own prediction argmax_c logit_c for images x: ``(B,)`` int64."""
        return self.logits(self.project(x)).argmax(dim=1)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy of both views against their labels y ``(B,)`` (required)."""
        labels = self._checked_labels(x1, x2, labels, "a tensor of class labels of shape (batch,)")
        z1, z2 = self.project_pair(x1, x2)  # (B, out_dim) each
        logits = self.logits(torch.cat([z1, z2]))  # (2B, C)
        logits = logits.to(compute_dtype(logits))  # float32 at least under autocast
        return F.cross_entropy(logits, torch.cat([labels, labels]))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, temperature={temperature_repr(self.temperature)}"
