"""SupConCNCE: SupCon + α · class-conditional NT-Xent, SupCon at α = 0, known to build_method."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import losses, methods
from edu_contrast.methods import SupCon, SupConCNCE
from edu_contrast.models import SmallConvNet

HEAD = {"hidden_dim": 16, "out_dim": 5}


def _encoder(seed=0):
    torch.manual_seed(seed)
    return SmallConvNet(1, feature_dim=8, width=4)


def _views(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


LABELS = torch.tensor([0, 1, 0, 1, 0, 2, 1, 2])


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_loss_is_supcon_plus_alpha_class_conditional(alpha):
    method = SupConCNCE(_encoder(), **HEAD, temperature=0.2, base_temperature=0.3, alpha=alpha)
    x1, x2 = _views()
    loss = method.loss(x1, x2, LABELS)
    z1, z2 = method.project_pair(x1, x2)  # same train-mode batch statistics as inside loss
    supcon = losses.supcon(torch.stack([z1, z2], dim=1), LABELS, temperature=0.2, base_temperature=0.3)
    cnce = losses.class_conditional_nt_xent(z1, z2, LABELS, temperature=0.2)
    assert float(cnce.detach()) > 0.1  # the term is there to be weighted
    torch.testing.assert_close(loss, supcon + alpha * cnce)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.encoder.parameters())


def test_alpha_zero_is_supcon():
    supcon = SupCon(_encoder(), **HEAD, temperature=0.1, base_temperature=0.1)
    combined = SupConCNCE(_encoder(), **HEAD, temperature=0.1, alpha=0.0)
    combined.load_state_dict(supcon.state_dict())
    x1, x2 = _views()
    torch.testing.assert_close(combined.loss(x1, x2, LABELS), supcon.loss(x1, x2, LABELS))


def test_with_one_class_the_added_term_is_nt_xent():
    """All images of one class: the cNCE term contrasts each image with every other one, as SimCLR."""
    method = SupConCNCE(_encoder(), **HEAD, temperature=0.5, alpha=1.0)
    x1, x2 = _views()
    same = torch.zeros(8, dtype=torch.long)  # one class: the cNCE term is NT-Xent over the batch
    z1, z2 = method.project_pair(x1, x2)
    torch.testing.assert_close(
        losses.class_conditional_nt_xent(z1, z2, same, temperature=0.5),
        losses.nt_xent(z1, z2, temperature=0.5),
    )


def test_learnable_temperature_gets_a_gradient():
    tau = torch.nn.Parameter(torch.tensor(0.2))
    method = SupConCNCE(_encoder(), **HEAD, temperature=tau, alpha=1.0)
    assert any(p is tau for p in method.parameters())
    method.loss(*_views(), LABELS).backward()
    assert tau.grad is not None and tau.grad != 0


def test_build_method_knows_it_and_records_alpha():
    method = methods.build_method("supcon_cnce", in_channels=1, width=4, alpha=0.5, temperature=0.2)
    assert isinstance(method, SupConCNCE) and method.alpha == 0.5
    assert method.spec["name"] == "supcon_cnce" and method.spec["alpha"] == 0.5
    assert "alpha=0.5" in repr(method)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="'alpha' parameter of SupConCNCE must be >= 0"):
        SupConCNCE(_encoder(), **HEAD, alpha=-1.0)
    with pytest.raises(ValueError, match="'labels' parameter of SupConCNCE.loss"):
        SupConCNCE(_encoder(), **HEAD).loss(*_views())
