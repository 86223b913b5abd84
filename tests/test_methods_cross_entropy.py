"""methods.CrossEntropyBaseline: the cosine-softmax classifier of notebook 07, against a loop oracle."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import methods
from edu_contrast.methods import CrossEntropyBaseline


def rand(*shape, seed=0):
    """Images in [0, 1], as the methods expect."""
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Flat(nn.Module):
    feature_dim = 64

    def forward(self, x):
        return x.flatten(1)  # (B, 1, 8, 8) → (B, 64)


def test_cross_entropy_baseline_loss_is_the_cosine_softmax_of_both_views():
    torch.manual_seed(0)
    model = CrossEntropyBaseline(Flat(), num_classes=3, hidden_dim=16, out_dim=4, temperature=0.2).double()
    x1, x2 = rand(6, 1, 8, 8, seed=1), rand(6, 1, 8, 8, seed=2)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    model.train()
    got = model.loss(x1, x2, y)
    with torch.no_grad():
        z = model.project(torch.cat([x1, x2]))  # same BatchNorm batch as project_pair
    w = model.prototypes.detach()
    total = 0.0
    for i, label in enumerate(torch.cat([y, y]).tolist()):  # loop oracle over the 2N views
        logits = [float(F.cosine_similarity(z[i], w[c], dim=0)) / 0.2 for c in range(3)]
        top = max(logits)
        total += -(logits[label] - top - math.log(sum(math.exp(v - top) for v in logits)))
    assert float(got.detach()) == pytest.approx(total / 12, rel=1e-9)
    got.backward()
    assert model.prototypes.grad is not None and model.prototypes.grad.abs().sum() > 0
    assert model.predict(x1).shape == (6,)


def test_cross_entropy_baseline_needs_labels_and_checks_arguments():
    model = CrossEntropyBaseline(Flat(), num_classes=3, hidden_dim=8, out_dim=4)
    x = torch.randn(4, 1, 8, 8)
    with pytest.raises(ValueError, match="'labels'"):
        model.loss(x, x)
    with pytest.raises(ValueError, match="'num_classes'"):
        CrossEntropyBaseline(Flat(), num_classes=1)
    with pytest.raises(ValueError, match="'temperature'"):
        CrossEntropyBaseline(Flat(), num_classes=3, temperature=0.0)


def test_build_method_knows_the_cross_entropy_baseline():
    model = methods.build_method("cross_entropy", in_channels=1, width=4, num_classes=3)
    assert isinstance(model, CrossEntropyBaseline) and model.prototypes.shape == (3, 128)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    assert model.loss(x, x.flip(-1), y).shape == ()
