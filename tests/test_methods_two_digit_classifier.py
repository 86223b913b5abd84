"""methods.TwoDigitClassifier: the supervised baseline of notebook 05 (one classifier per digit on h)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import methods
from edu_contrast.methods import TwoDigitClassifier


class _Flat(nn.Module):
    feature_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x):
        return self.net(x)


def test_two_digit_classifier_loss_is_the_mean_cross_entropy_of_both_heads():
    torch.manual_seed(0)
    model = TwoDigitClassifier(_Flat(), num_classes=3)
    x1, x2 = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    large, small = torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 0, 1, 0])
    loss = model.loss(x1, x2, 3 * large + small)
    logits = model.project(torch.cat([x1, x2]))  # (10, 6)
    expected = 0.5 * (
        F.cross_entropy(logits[:, :3], large.repeat(2)) + F.cross_entropy(logits[:, 3:], small.repeat(2))
    )
    assert torch.allclose(loss, expected)
    loss.backward()
    assert model.encoder.net[1].weight.grad is not None
    with pytest.raises(ValueError, match="'labels' parameter of TwoDigitClassifier.loss"):
        model.loss(x1, x2)


def test_build_method_knows_the_two_digit_classifier():
    model = methods.build_method("two_digit_classifier", in_channels=1, width=4, num_classes=3)
    assert isinstance(model, TwoDigitClassifier) and model.project(torch.rand(2, 1, 8, 8)).shape == (2, 6)
