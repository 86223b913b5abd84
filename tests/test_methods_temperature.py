"""Methods with a learnable τ (an nn.Parameter is registered, gets a gradient, and an optimiser moves it),
NumPy hyperparameters, and the views and labels a student might pass by mistake."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edu_contrast import losses
from edu_contrast.methods import (
    BYOL,
    CrossEntropyBaseline,
    Generalized,
    MoCo,
    SimCLR,
    SupCon,
    VICReg,
    build_method,
)


class TinyEncoder(nn.Module):
    """f: flatten an (B, 1, 8, 8) image and map it linearly to 16 features."""

    feature_dim = 16

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, self.feature_dim), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def _views(batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 8, 8, generator=g)
    return x, (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _make(cls, **kwargs):
    torch.manual_seed(0)
    return cls(TinyEncoder(), hidden_dim=32, out_dim=8, **kwargs)


LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
# (class, extra kwargs, the names of its temperatures)
WITH_TAU = [
    (SimCLR, {}, ["temperature"]),
    (MoCo, {"queue_size": 16}, ["temperature"]),
    (SupCon, {}, ["temperature", "base_temperature"]),
    (Generalized, {}, ["temperature"]),
    (CrossEntropyBaseline, {"num_classes": 3}, ["temperature"]),
]


@pytest.mark.parametrize("cls, kwargs, names", WITH_TAU, ids=[c.__name__ for c, _, _ in WITH_TAU])
def test_a_parameter_tau_is_registered_gets_a_gradient_and_is_stepped(cls, kwargs, names):
    taus = {name: nn.Parameter(torch.tensor(0.3)) for name in names}
    method = _make(cls, **kwargs, **taus)
    for name, tau in taus.items():
        assert getattr(method, name) is tau
        assert any(p is tau for p in method.parameters()), f"{name} is not in method.parameters()"
        assert name in method.state_dict()
    assert "(learnable)" in repr(method)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.01)
    method.loss(*_views(), LABELS).backward()
    for name, tau in taus.items():
        assert tau.grad is not None and tau.grad.item() != 0, f"no gradient reached {name}"
    optimizer.step()
    assert taus["temperature"].item() != pytest.approx(0.3, abs=1e-9)


def test_simclr_tau_gradient_is_the_gradient_of_nt_xent_of_the_projections():
    tau = nn.Parameter(torch.tensor(0.4, dtype=torch.float64))
    method = _make(SimCLR, temperature=tau).double()
    x1, x2 = (x.double() for x in _views())
    method.loss(x1, x2).backward()
    z1, z2 = method.project_pair(x1, x2)
    tau_ref = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    losses.nt_xent(z1.detach(), z2.detach(), temperature=tau_ref).backward()
    assert tau.grad.item() == pytest.approx(tau_ref.grad.item(), rel=1e-10)


@pytest.mark.parametrize("cls, kwargs, names", WITH_TAU, ids=[c.__name__ for c, _, _ in WITH_TAU])
def test_a_number_or_plain_tensor_tau_stays_a_float_and_is_no_parameter(cls, kwargs, names):
    plain = _make(cls, **kwargs)
    for tau in (np.float32(0.25), torch.tensor(0.25), 0.25):
        method = _make(cls, **kwargs, **dict.fromkeys(names, tau))
        assert all(type(getattr(method, name)) is float for name in names)
        assert method.state_dict().keys() == plain.state_dict().keys()
    with pytest.raises(
        TypeError, match=rf"'temperature' parameter of {cls.__name__} must be a number, or an nn"
    ):
        _make(cls, **kwargs, temperature=torch.tensor(0.25, requires_grad=True))


def test_a_learnable_tau_follows_the_module_to_a_dtype_and_back_through_the_state_dict():
    method = _make(SimCLR, temperature=nn.Parameter(torch.tensor(0.3))).double()
    assert method.temperature.dtype == torch.float64
    state = method.state_dict()
    other = _make(SimCLR, temperature=nn.Parameter(torch.tensor(1.0))).double()
    other.load_state_dict(state)
    assert other.temperature.item() == pytest.approx(0.3)


def test_numpy_hyperparameters_are_accepted_and_recorded_as_python_numbers():
    method = build_method(
        "moco",
        in_channels=np.int64(1),
        width=np.int64(4),
        temperature=np.float32(0.2),
        queue_size=np.int64(8),
    )
    assert method.temperature == pytest.approx(0.2) and method.queue.shape[0] == 8
    assert all(type(v) in (str, int, float, type(None)) for v in method.spec.values()), method.spec
    _make(BYOL, base_momentum=np.float32(0.9))
    _make(VICReg, sim_weight=np.float64(25.0))


# --- views and labels a student might pass ----------------------------------------------------------


@pytest.mark.parametrize("cls, kwargs", [(SimCLR, {}), (MoCo, {"queue_size": 16}), (BYOL, {}), (SupCon, {})])
def test_uint8_images_are_a_type_error_that_says_divide_by_255(cls, kwargs):
    method = _make(cls, **kwargs)
    x1, x2 = _views()
    as_bytes = (x1 * 255).to(torch.uint8)
    with pytest.raises(
        TypeError, match=r"'x1' parameter of .*\.loss must be a floating-point.*255.*to_float"
    ):
        method.loss(as_bytes, x2, LABELS)
    with pytest.raises(
        TypeError, match=r"'x2' parameter of .*\.loss must be a floating-point.*dtype torch.uint8"
    ):
        method.loss(x1, as_bytes, LABELS)


@pytest.mark.parametrize("cls, kwargs", [(SimCLR, {}), (VICReg, {}), (SupCon, {})])
def test_float_images_in_0_255_are_refused_naming_the_view(cls, kwargs):
    method = _make(cls, **kwargs)
    x1, x2 = _views()
    with pytest.raises(
        ValueError, match=r"'x1' parameter of .*\.loss must be images scaled to \[0, 1\].*255"
    ):
        method.loss(x1 * 255, x2 * 255, LABELS)
    with pytest.raises(ValueError, match=r"'x2' parameter of .*\.loss must be images scaled to \[0, 1\]"):
        method.loss(x1, x2 * 255, LABELS)


def test_images_with_a_little_noise_above_1_are_accepted():
    x1, x2 = _views()
    assert torch.isfinite(_make(SimCLR).loss(x1 + 0.3, x2 - 0.3))


def test_string_labels_are_a_type_error_naming_labels():
    method = _make(SupCon)
    names = ["cat", "dog"] * 4
    with pytest.raises(
        TypeError, match="'labels' parameter of SupCon.loss must be an integer tensor of class"
    ):
        method.loss(*_views(), names)
    with pytest.raises(TypeError, match="'labels' parameter of CrossEntropyBaseline.loss"):
        _make(CrossEntropyBaseline, num_classes=2).loss(*_views(), np.array(names))
