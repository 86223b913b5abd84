r"""Supervised baseline of notebook 05 (MultiDigits): one linear classifier per digit on h, trained on views.

    h = f(x̃),   L = ½ [ CE(W_L h, y_L) + CE(W_S h, y_S) ]   averaged over both augmented views x̃⁽¹⁾, x̃⁽²⁾

W_L, W_S are the two C-way heads (one linear layer g with 2C outputs), y_L, y_S the classes of the large
and the small digit. Chen, Luo & Li 2021 ("Intriguing Properties of Contrastive Losses", Sec. 4.3) compare
SimCLR against "supervised learning with the same augmentation policy": this is it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast._validation import check_int
from edu_contrast.methods.base import ContrastiveMethod


class TwoDigitClassifier(ContrastiveMethod):
    r"""L = ½ [CE(W_L h, y_L) + CE(W_S h, y_S)], each CE the mean over the 2B views of a batch.

    ``labels`` carry both digits as y = C·y_L + y_S (``lessons.feature_suppression.two_digit_labels``);
    ``num_classes`` is C. ``project`` returns the 2C logits [W_L h ; W_S h].
    """

    def __init__(self, encoder: nn.Module, *, num_classes: int = 10):
        self.num_classes = check_int(num_classes, "num_classes", "TwoDigitClassifier", minimum=2)
        super().__init__(encoder, out_dim=2 * self.num_classes, num_layers=1)  # g: one linear layer

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Both heads' cross-entropy on both views; ``labels`` y = C·y_L + y_S ``(B,)`` are required."""
        expected = "the combined labels C·y_large + y_small (two_digit_labels)"
        labels = self._checked_labels(x1, x2, labels, expected)
        c = self.num_classes
        logits = self.project(torch.cat([x1, x2]))  # (2B, 2C): large digit's logits, then the small's
        large, small = (labels // c).repeat(2), (labels % c).repeat(2)  # (2B,) each
        return 0.5 * (F.cross_entropy(logits[:, :c], large) + F.cross_entropy(logits[:, c:], small))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"
