"""byol: oracle, closed forms, stop-gradient on the target, bad inputs."""

import oracles
import pytest
import torch

from edu_contrast.losses import byol


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_matches_oracle():
    p, z = randn(7, 5, seed=1), randn(7, 5, seed=2)
    assert byol(p, z).item() == pytest.approx(oracles.byol(p, z), rel=1e-12)


def test_closed_forms():
    p = randn(3, 4, seed=3)
    assert byol(p, 5 * p).item() == pytest.approx(0.0, abs=1e-12)  # same direction
    assert byol(p, -p).item() == pytest.approx(4.0, rel=1e-12)  # opposite
    e = torch.eye(2, dtype=torch.float64)
    assert byol(e, e.flip(0)).item() == pytest.approx(2.0, rel=1e-12)  # orthogonal


def test_target_gets_no_gradient_and_prediction_does():
    p = randn(4, 3, seed=4).requires_grad_()
    z = randn(4, 3, seed=5).requires_grad_()
    byol(p, z).backward()
    assert z.grad is None
    assert p.grad is not None and p.grad.abs().sum() > 0


def test_invariant_to_row_norms():
    p, z = randn(5, 3, seed=6), randn(5, 3, seed=7)
    scale = torch.rand(5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 0.1
    assert byol(p * scale, z / scale).item() == pytest.approx(byol(p, z).item(), rel=1e-12)


def test_gradcheck_float64():
    p, z = randn(4, 3, seed=8).requires_grad_(), randn(4, 3, seed=9)
    assert torch.autograd.gradcheck(lambda a: byol(a, z), (p,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_finite_also_for_identical_views(dtype):
    p = randn(8, 6, seed=10, dtype=dtype).requires_grad_()
    for target in (p.detach().clone(), randn(8, 6, seed=11, dtype=dtype)):
        p.grad = None
        loss = byol(p, target)
        loss.backward()
        assert torch.isfinite(loss) and bool(torch.isfinite(p.grad).all()) and p.grad.dtype == dtype


def test_bad_inputs():
    good = randn(4, 3, seed=12)
    with pytest.raises(ValueError, match="'target' parameter of byol.*same shape"):
        byol(good, good[:, :2])
    with pytest.raises(ValueError, match="'prediction' parameter of byol.*2-D"):
        byol(good[None], good)
    bad = good.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="'target' parameter of byol.*finite"):
        byol(good, bad)
    with pytest.raises(TypeError, match="'prediction' parameter of byol"):
        byol(good.numpy(), good)
