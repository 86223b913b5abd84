"""spectral_contrastive against its loop oracle, closed forms, its minimiser, gradients and bad inputs."""

import oracles_negatives as oracles
import pytest
import torch

from edu_contrast.losses import spectral_contrastive


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("n, d", [(2, 1), (2, 5), (7, 3), (12, 20)])
@pytest.mark.parametrize("scale", [0.1, 1.0, 5.0])
def test_matches_oracle(n, d, scale):
    z1, z2 = scale * randn(n, d, seed=n), scale * randn(n, d, seed=n + d)
    got = spectral_contrastive(z1, z2).item()
    assert got == pytest.approx(oracles.spectral_contrastive(z1, z2), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n, d, c", [(3, 3, 1.0), (4, 6, 2.0), (5, 5, 0.5)])
def test_equal_views_along_orthogonal_directions(n, d, c):
    # z1_i = z2_i = c e_i: every positive inner product c², every other pair 0, so L = −2c².
    z = c * torch.eye(n, d, dtype=torch.float64)
    assert spectral_contrastive(z, z).item() == pytest.approx(-2 * c**2, rel=1e-12)


@pytest.mark.parametrize("norm", [0.5, 1.0, 2.0])
def test_all_views_equal_gives_minus_2u2_plus_u4(norm):
    u = randn(1, 4, seed=1)
    u = norm * u / u.norm()
    z = u.expand(6, 4)
    assert spectral_contrastive(z, z).item() == pytest.approx(-2 * norm**2 + norm**4, rel=1e-12)


def test_minimiser_of_a_tiny_clustered_batch():
    # C classes of m samples, z1_i = z2_i = c e_{y_i}: pairs i ≠ j share a class with frequency
    # q = (m − 1)/(N − 1), so L(c) = −2c² + q c⁴, minimal at c² = 1/q with L = −1/q; the gradient
    # with respect to every embedding vanishes there, and L is larger at any other scale.
    classes, per_class = 3, 4
    n = classes * per_class
    q = (per_class - 1) / (n - 1)
    directions = torch.eye(classes, dtype=torch.float64)[torch.arange(n) % classes]  # (N, C)
    best = q**-0.5
    z1 = (best * directions).requires_grad_()
    z2 = (best * directions).requires_grad_()
    loss = spectral_contrastive(z1, z2)
    assert loss.item() == pytest.approx(-1 / q, rel=1e-12)
    loss.backward()
    assert z1.grad.abs().max().item() < 1e-12 and z2.grad.abs().max().item() < 1e-12
    for factor in (0.8, 0.95, 1.05, 1.2):
        z = factor * best * directions
        assert spectral_contrastive(z, z).item() > loss.item()


def test_symmetric_in_the_views_but_not_scale_invariant():
    z1, z2 = randn(5, 3, seed=2), randn(5, 3, seed=3)
    assert spectral_contrastive(2 * z1, z2).item() != pytest.approx(
        spectral_contrastive(z1, z2).item(), rel=1e-3
    )
    # swapping the views transposes the inner-product matrix: the loss is symmetric
    assert spectral_contrastive(z2, z1).item() == pytest.approx(
        spectral_contrastive(z1, z2).item(), rel=1e-12
    )


def test_gradcheck_float64():
    z1, z2 = randn(4, 3, seed=4).requires_grad_(), randn(4, 3, seed=5).requires_grad_()
    assert torch.autograd.gradcheck(spectral_contrastive, (z1, z2))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_half_precision_is_finite_and_close_to_float64(dtype, scale):
    # scale 30: inner products ~ 30²·8, squares ~ 10⁸, beyond float16's range unless computed in float32
    z1, z2 = (scale * randn(16, 8, seed=6)).to(dtype), (scale * randn(16, 8, seed=7)).to(dtype)
    a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    loss = spectral_contrastive(a, b)
    loss.backward()
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert a.grad.dtype == dtype and bool(torch.isfinite(a.grad).all()) and bool(torch.isfinite(b.grad).all())
    assert loss.item() == pytest.approx(spectral_contrastive(z1.double(), z2.double()).item(), rel=1e-5)


GOOD = randn(4, 3, seed=8)


def test_bad_inputs():
    where = "spectral_contrastive"
    with pytest.raises(ValueError, match=rf"'z1' parameter of {where}.*2-D"):
        spectral_contrastive(GOOD[None], GOOD)
    with pytest.raises(ValueError, match=rf"'z2' parameter of {where}.*same shape"):
        spectral_contrastive(GOOD, GOOD[:3])
    with pytest.raises(ValueError, match=rf"'z1' parameter of {where}.*at least 2 rows"):
        spectral_contrastive(GOOD[:1], GOOD[:1])
    bad = GOOD.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match=rf"'z2' parameter of {where}.*finite"):
        spectral_contrastive(GOOD, bad)
    with pytest.raises(TypeError, match=rf"'z1' parameter of {where}.*floating-point"):
        spectral_contrastive(torch.ones(4, 3, dtype=torch.int64), GOOD)
    with pytest.raises(TypeError, match=rf"'z1' parameter of {where}"):
        spectral_contrastive(GOOD.numpy(), GOOD)
