"""vicreg and vicreg_terms: a hand-computed example, the loop oracle, the hinge, bad inputs."""

import math

import oracles
import pytest
import torch

from edu_contrast.losses import VICRegTerms, vicreg, vicreg_terms


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_hand_computed_example():
    z1 = torch.tensor([[0.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # invariance: (0 + 0 + 4 + 1) / 4. Variance: z1 has var 2 in both columns (std > 1, no cost);
    # z2 has var 0 and 0.5: ((1 − sqrt(1e-4)) + (1 − sqrt(0.5 + 1e-4))) / 2. Covariance: z1 has
    # C_01 = C_10 = 2, so (4 + 4) / 2 = 4; z2 has C_01 = 0.
    invariance = 5 / 4
    variance = ((1 - math.sqrt(1e-4)) + (1 - math.sqrt(0.5 + 1e-4))) / 2
    covariance = 4.0
    terms = vicreg_terms(z1, z2)
    assert isinstance(terms, VICRegTerms)
    assert terms.invariance.item() == pytest.approx(invariance, rel=1e-12)
    assert terms.variance.item() == pytest.approx(variance, rel=1e-12)
    assert terms.covariance.item() == pytest.approx(covariance, rel=1e-12)
    expected = 25 * invariance + 25 * variance + 1 * covariance
    assert vicreg(z1, z2).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (1.0, 0.0, 3.0), (0.0, 2.0, 0.0)])
def test_matches_oracle(weights):
    z1, z2 = randn(7, 4, seed=1), 0.4 * randn(7, 4, seed=2)
    sim, var, cov = weights
    got = vicreg(z1, z2, sim_weight=sim, var_weight=var, cov_weight=cov).item()
    assert got == pytest.approx(oracles.vicreg(z1, z2, sim, var, cov), rel=1e-10)
    terms = [t.item() for t in vicreg_terms(z1, z2)]
    assert terms == pytest.approx(list(oracles.vicreg_terms(z1, z2)), rel=1e-10)


def test_variance_term_is_zero_when_every_std_is_at_least_one():
    z1, z2 = 3 * randn(256, 5, seed=3), 3 * randn(256, 5, seed=4)
    assert (z1.std(dim=0) > 1).all() and (z2.std(dim=0) > 1).all()
    assert vicreg_terms(z1, z2).variance.item() == 0.0
    z1.requires_grad_()
    vicreg(z1, z2, sim_weight=0.0, var_weight=1.0, cov_weight=0.0).backward()
    assert torch.count_nonzero(z1.grad) == 0  # the hinge is flat above γ = 1


def test_collapsed_embeddings_pay_the_full_variance_hinge():
    z = randn(1, 6, seed=5).expand(10, 6)
    terms = vicreg_terms(z, z)
    assert terms.invariance.item() == 0.0
    assert terms.variance.item() == pytest.approx(2 * (1 - math.sqrt(1e-4)), rel=1e-12)
    assert terms.covariance.item() == pytest.approx(0.0, abs=1e-24)


def test_decorrelated_dimensions_have_zero_covariance_term():
    hadamard = torch.tensor(
        [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=torch.float64
    )
    z = hadamard[:, 1:]  # 3 centred, mutually orthogonal columns
    assert vicreg_terms(z, z).covariance.item() == pytest.approx(0.0, abs=1e-24)
    assert vicreg_terms(z, z.roll(1, dims=1) * 2).covariance.item() == pytest.approx(0.0, abs=1e-24)


def test_symmetric_and_translation_invariant_except_for_invariance():
    z1, z2 = randn(8, 3, seed=6), randn(8, 3, seed=7)
    assert vicreg(z1, z2).item() == pytest.approx(vicreg(z2, z1).item(), rel=1e-12)
    shifted = vicreg_terms(z1 + 5, z2 + 5)
    terms = vicreg_terms(z1, z2)
    for a, b in zip(shifted, terms, strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-9)


def test_gradcheck_float64():
    z1, z2 = (0.5 * randn(6, 3, seed=8)).requires_grad_(), (0.5 * randn(6, 3, seed=9)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: vicreg(a, b), (z1, z2))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("collapsed", [False, True])
def test_half_precision_is_finite(dtype, collapsed):
    z1 = randn(1 if collapsed else 32, 16, seed=10, dtype=dtype).expand(32, 16).clone().requires_grad_()
    z2 = z1.detach().clone()
    loss = vicreg(z1, z2)
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(z1.grad).all()) and z1.grad.dtype == dtype
    assert loss.item() == pytest.approx(vicreg(z1.detach().double(), z2.double()).item(), rel=1e-3)


GOOD = randn(4, 3, seed=11)


@pytest.mark.parametrize("name", ["sim_weight", "var_weight", "cov_weight"])
@pytest.mark.parametrize("value", [-1.0, float("nan")])
def test_bad_weights(name, value):
    with pytest.raises(ValueError, match=f"'{name}' parameter of vicreg"):
        vicreg(GOOD, GOOD, **{name: value})


def test_bad_embeddings():
    for fn in (vicreg, vicreg_terms):
        where = fn.__name__
        with pytest.raises(ValueError, match=f"'z1' parameter of {where}.*at least 2 rows"):
            fn(GOOD[:1], GOOD[:1])
        with pytest.raises(ValueError, match=f"'z2' parameter of {where}.*same shape"):
            fn(GOOD, GOOD[:, :2])
        bad = GOOD.clone()
        bad[3, 0] = float("-inf")
        with pytest.raises(ValueError, match=f"'z2' parameter of {where}.*finite"):
            fn(GOOD, bad)
        with pytest.raises(TypeError, match=f"'z1' parameter of {where}"):
            fn(None, GOOD)
