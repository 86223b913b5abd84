"""alignment and uniformity (Wang & Isola): oracles, torch.pdist, closed forms, bad inputs."""

import math

import oracles
import pytest
import torch

from edu_contrast.losses import alignment, uniformity


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("alpha", [0.5, 1, 2, 3.5])
def test_alignment_matches_oracle(alpha):
    z1, z2 = randn(6, 4, seed=1), randn(6, 4, seed=2)
    assert alignment(z1, z2, alpha=alpha).item() == pytest.approx(oracles.alignment(z1, z2, alpha), rel=1e-12)


@pytest.mark.parametrize("t", [0.5, 2, 10])
def test_uniformity_matches_oracle(t):
    z = randn(7, 3, seed=3)
    assert uniformity(z, t=t).item() == pytest.approx(oracles.uniformity(z, t), rel=1e-10)


@pytest.mark.parametrize("t", [1, 2])
def test_uniformity_matches_torch_pdist(t):
    z = randn(20, 5, seed=4)
    z_hat = torch.nn.functional.normalize(z, dim=1)
    expected = torch.pdist(z_hat).pow(2).mul(-t).exp().mean().log()  # Wang & Isola's reference code
    assert uniformity(z, t=t).item() == pytest.approx(expected.item(), rel=1e-10)


def test_closed_forms():
    z = randn(1, 4, seed=5).expand(5, 4)
    assert uniformity(z).item() == pytest.approx(0.0, abs=1e-12)  # all in one point: log e^0
    assert alignment(z, 3 * z).item() == pytest.approx(0.0, abs=1e-12)
    assert alignment(z, -z, alpha=2).item() == pytest.approx(4.0, rel=1e-12)  # ‖ẑ − (−ẑ)‖² = 4
    assert alignment(z, -z, alpha=1).item() == pytest.approx(2.0, rel=1e-12)
    e = torch.eye(3, dtype=torch.float64)  # orthonormal: every pair at squared distance 2
    assert uniformity(e, t=2).item() == pytest.approx(-4.0, rel=1e-12)
    antipodal = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)  # squared distance 4
    assert uniformity(antipodal, t=0.5).item() == pytest.approx(-2.0, rel=1e-12)
    assert alignment(e, e.roll(1, dims=0)).item() == pytest.approx(2.0, rel=1e-12)


def test_default_alpha_and_t_are_two():
    z1, z2 = randn(5, 3, seed=6), randn(5, 3, seed=7)
    assert alignment(z1, z2).item() == pytest.approx(oracles.alignment(z1, z2, 2), rel=1e-12)
    assert uniformity(z1).item() == pytest.approx(oracles.uniformity(z1, 2), rel=1e-10)


def test_spread_points_are_more_uniform_than_a_cluster():
    spread = randn(64, 3, seed=8)
    cluster = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) + 0.1 * randn(64, 3, seed=9)
    assert uniformity(spread).item() < uniformity(cluster).item()


def test_invariant_to_row_norms_and_alignment_symmetric():
    z1, z2 = randn(6, 3, seed=10), randn(6, 3, seed=11)
    scale = torch.rand(6, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4 + 0.1
    assert uniformity(z1 * scale).item() == pytest.approx(uniformity(z1).item(), rel=1e-12)
    assert alignment(z1 * scale, z2).item() == pytest.approx(alignment(z1, z2).item(), rel=1e-12)
    assert alignment(z2, z1).item() == pytest.approx(alignment(z1, z2).item(), rel=1e-12)


def test_gradcheck_float64():
    z1, z2 = randn(5, 3, seed=12).requires_grad_(), randn(5, 3, seed=13).requires_grad_()
    for alpha in (1, 2, 3):
        assert torch.autograd.gradcheck(lambda a, b, alpha=alpha: alignment(a, b, alpha=alpha), (z1, z2))
    assert torch.autograd.gradcheck(lambda a: uniformity(a, t=2), (z1,))


@pytest.mark.parametrize("alpha", [0.5, 1, 2])
def test_identical_views_give_a_finite_zero_gradient(alpha):
    z = randn(4, 3, seed=14).requires_grad_()
    loss = alignment(z, z.detach().clone(), alpha=alpha)
    loss.backward()
    assert loss.item() == 0.0 and bool(torch.isfinite(z.grad).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_finite_also_for_repeated_points(dtype):
    for z in (randn(16, 8, seed=15, dtype=dtype), randn(1, 8, seed=16, dtype=dtype).expand(16, 8).clone()):
        z.requires_grad_()
        for loss in (uniformity(z, t=100), alignment(z, z.detach().clone())):
            z.grad = None
            loss.backward()
            assert torch.isfinite(loss) and bool(torch.isfinite(z.grad).all()) and z.grad.dtype == dtype


def test_large_t_stays_finite_in_float32():
    z = randn(8, 3, seed=17, dtype=torch.float32)
    value = uniformity(z, t=1e4).item()  # exp(−t‖·‖²) underflows; the log-sum-exp does not
    assert math.isfinite(value) and value < -10


def test_bad_inputs():
    good = randn(4, 3, seed=18)
    with pytest.raises(ValueError, match="'alpha' parameter of alignment"):
        alignment(good, good, alpha=0)
    with pytest.raises(ValueError, match="'alpha' parameter of alignment"):
        alignment(good, good, alpha=float("nan"))
    with pytest.raises(ValueError, match="'t' parameter of uniformity"):
        uniformity(good, t=-1)
    with pytest.raises(TypeError, match="'t' parameter of uniformity"):
        uniformity(good, t=None)
    with pytest.raises(ValueError, match="'z' parameter of uniformity.*at least 2 rows"):
        uniformity(good[:1])
    with pytest.raises(ValueError, match="'z2' parameter of alignment.*same shape"):
        alignment(good, good[:2])
    with pytest.raises(ValueError, match="'z1' parameter of alignment.*2-D"):
        alignment(good[0], good)
    bad = good.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="'z' parameter of uniformity.*finite"):
        uniformity(bad)


def test_uniformity_loss_equals_the_diagnostic_even_with_a_zero_row():
    """The training loss and diagnostics.uniformity compute the same number; an all-zero row stays at the
    origin (‖ẑ_i − ẑ_j‖² = 1 to every unit vector) in both."""
    from edu_contrast import diagnostics

    z = torch.randn(30, 5, dtype=torch.float64)
    z[3] = 0.0
    for t in (0.5, 2.0):
        assert uniformity(z, t=t).item() == pytest.approx(diagnostics.uniformity(z, t=t), rel=1e-12)
