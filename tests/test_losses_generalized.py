"""sliced_wasserstein, sample_prior and generalized_contrastive (Chen et al. 2020b)."""

import math

import oracles
import pytest
import torch

from edu_contrast.losses import generalized_contrastive, nt_xent, sample_prior, sliced_wasserstein
from edu_contrast.losses.generalized import _orthogonal_directions

PRIORS = ["normal", "hypersphere", "hypercube"]


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# --- the 'lse' member is NT-Xent -------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.05, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_lse_with_weight_one_is_nt_xent(temperature, dtype):
    z1, z2 = randn(8, 5, seed=1, dtype=dtype), randn(8, 5, seed=2, dtype=dtype)
    got = generalized_contrastive(z1, z2, distribution="lse", weight=1.0, temperature=temperature)
    expected = nt_xent(z1, z2, temperature=temperature)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-6
    assert got.item() == pytest.approx(expected.item(), rel=tolerance)
    assert got.item() == pytest.approx(oracles.nt_xent(z1, z2, temperature), rel=max(tolerance, 1e-10))


def test_defaults_are_lse_on_the_hypersphere_at_temperature_0_5():
    z1, z2 = randn(6, 4, seed=3), randn(6, 4, seed=4)
    assert generalized_contrastive(z1, z2).item() == pytest.approx(nt_xent(z1, z2).item(), rel=1e-12)


def test_lse_weight_multiplies_only_the_log_sum_exp_term():
    z1, z2 = randn(6, 4, seed=5), randn(6, 4, seed=6)
    tau = 0.2
    align = generalized_contrastive(z1, z2, weight=0.0, temperature=tau).item()
    cosines = torch.nn.functional.cosine_similarity(z1, z2, dim=1)
    assert align == pytest.approx(-(cosines.mean() / tau).item(), rel=1e-12)  # −(1/2N) Σ_i s_ii⁺/τ
    full = generalized_contrastive(z1, z2, weight=1.0, temperature=tau).item()
    lse = full - align
    for weight in (0.5, 3.0):
        got = generalized_contrastive(z1, z2, weight=weight, temperature=tau).item()
        assert got == pytest.approx(align + weight * lse, rel=1e-12)


# --- sliced Wasserstein -----------------------------------------------------------------------------


@pytest.mark.parametrize("prior", PRIORS)
@pytest.mark.parametrize("num_projections", [None, 2, 7])
def test_sliced_wasserstein_matches_oracle(prior, num_projections):
    z = randn(9, 3, seed=7)
    got = sliced_wasserstein(z, prior=prior, num_projections=num_projections, generator=gen(0)).item()
    g = gen(0)  # replay the same draws: the prior samples first, then the directions
    samples = sample_prior(prior, 9, 3, generator=g, dtype=torch.float64)
    directions = _orthogonal_directions(3, num_projections or 3, g, torch.float64, z.device)
    used = torch.nn.functional.normalize(z, dim=1) if prior == "hypersphere" else z
    assert got == pytest.approx(oracles.sliced_wasserstein(used, samples, directions), rel=1e-10)


def test_directions_are_orthonormal_blocks():
    w = _orthogonal_directions(4, 10, gen(1), torch.float64, "cpu")
    assert w.shape == (4, 10)
    assert torch.allclose(w.norm(dim=0), torch.ones(10, dtype=torch.float64))
    for block in (w[:, :4], w[:, 4:8]):
        assert torch.allclose(block.T @ block, torch.eye(4, dtype=torch.float64), atol=1e-12)


def test_one_dimensional_swd_is_the_sorted_squared_gap():
    z = torch.tensor([[3.0], [-1.0], [0.5]], dtype=torch.float64)
    got = sliced_wasserstein(z, prior="normal", generator=gen(2)).item()
    samples = sample_prior("normal", 3, 1, generator=gen(2), dtype=torch.float64)
    expected = (z.flatten().sort().values - samples.flatten().sort().values).pow(2).mean().item()
    assert got == pytest.approx(expected, rel=1e-12)  # the single direction is ±1


@pytest.mark.parametrize("prior", PRIORS)
def test_sliced_wasserstein_is_small_on_the_prior_and_large_far_from_it(prior):
    near = sample_prior(prior, 2048, 8, generator=gen(3))
    collapsed = torch.ones(2048, 8)
    small = sliced_wasserstein(near, prior=prior, generator=gen(4)).item()
    large = sliced_wasserstein(collapsed, prior=prior, generator=gen(4)).item()
    assert small < 0.01 * large
    if prior != "hypersphere":  # shifting leaves the sphere prior's ẑ near its pole only
        shifted = sliced_wasserstein(near + 3, prior=prior, generator=gen(4)).item()
        assert shifted > 8 and small < 0.01


def test_sliced_wasserstein_is_reproducible_with_a_generator():
    z = randn(32, 4, seed=8)
    a = sliced_wasserstein(z, generator=gen(5)).item()
    assert sliced_wasserstein(z, generator=gen(5)).item() == a
    assert sliced_wasserstein(z, generator=gen(6)).item() != a


def test_hypersphere_prior_normalises_and_the_others_do_not():
    z = randn(16, 4, seed=9)
    scale = torch.rand(16, 1, generator=gen(7), dtype=torch.float64) + 0.5
    sphere = sliced_wasserstein(z, prior="hypersphere", generator=gen(8)).item()
    assert sliced_wasserstein(z * scale, prior="hypersphere", generator=gen(8)).item() == pytest.approx(
        sphere
    )
    normal = sliced_wasserstein(z, prior="normal", generator=gen(8)).item()
    assert sliced_wasserstein(z * scale, prior="normal", generator=gen(8)).item() != pytest.approx(normal)


def test_sample_prior_shapes_and_moments():
    sphere = sample_prior("hypersphere", 4000, 5, generator=gen(9))
    cube = sample_prior("hypercube", 4000, 5, generator=gen(9))
    normal = sample_prior("normal", 4000, 5, generator=gen(9), dtype=torch.float64)
    assert sphere.shape == cube.shape == normal.shape == (4000, 5) and normal.dtype == torch.float64
    assert torch.allclose(sphere.norm(dim=1), torch.ones(4000))
    assert cube.min() >= -1 and cube.max() <= 1 and abs(cube.var().item() - 1 / 3) < 0.02
    assert abs(normal.mean().item()) < 0.05 and abs(normal.var().item() - 1) < 0.05


# --- the 'swd' member --------------------------------------------------------------------------------


@pytest.mark.parametrize("prior", PRIORS)
def test_swd_member_is_euclidean_alignment_plus_weighted_swd(prior):
    z1, z2 = randn(6, 3, seed=10), randn(6, 3, seed=11)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        got = generalized_contrastive(z1, z2, distribution="swd", prior=prior, weight=2.5).item()
        torch.manual_seed(0)
        unit = torch.nn.functional.normalize
        a, b = (unit(z1, dim=1), unit(z2, dim=1)) if prior == "hypersphere" else (z1, z2)
        swd = sliced_wasserstein(torch.cat([a, b]), prior=prior).item()
    align = oracles.euclidean_alignment(a, b)
    assert got == pytest.approx(align + 2.5 * swd, rel=1e-12)


def test_swd_member_ignores_the_temperature():
    z1, z2 = randn(6, 3, seed=12), randn(6, 3, seed=13)
    values = []
    for temperature in (0.1, 2.0):
        with torch.random.fork_rng():
            torch.manual_seed(1)
            values.append(generalized_contrastive(z1, z2, distribution="swd", temperature=temperature).item())
    assert values[0] == values[1]


# --- gradients and low precision -----------------------------------------------------------------------


def test_gradcheck_float64():
    z1, z2 = randn(5, 3, seed=14).requires_grad_(), randn(5, 3, seed=15).requires_grad_()
    for prior in PRIORS:
        assert torch.autograd.gradcheck(
            lambda z, p=prior: sliced_wasserstein(z, prior=p, generator=gen(0)), (z1,)
        )

    def swd_member(a, b):
        with torch.random.fork_rng():
            torch.manual_seed(0)  # the same directions and prior samples at every call
            return generalized_contrastive(a, b, distribution="swd", prior="normal", weight=0.7)

    assert torch.autograd.gradcheck(swd_member, (z1, z2))
    assert torch.autograd.gradcheck(
        lambda a, b: generalized_contrastive(a, b, weight=0.7, temperature=0.3), (z1, z2)
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("identical", [False, True])
def test_half_precision_is_finite(dtype, identical):
    z1 = randn(16, 8, seed=16, dtype=dtype)
    z2 = z1.clone() if identical else randn(16, 8, seed=17, dtype=dtype)
    z1.requires_grad_()
    calls = [
        lambda: generalized_contrastive(z1, z2, temperature=0.01),
        lambda: generalized_contrastive(z1, z2, distribution="swd", prior="hypercube"),
        lambda: sliced_wasserstein(z1, prior="hypersphere", generator=gen(0)),
    ]
    for call in calls:
        z1.grad = None
        loss = call()
        loss.backward()
        assert torch.isfinite(loss) and bool(torch.isfinite(z1.grad).all()) and z1.grad.dtype == dtype


# --- bad inputs ------------------------------------------------------------------------------------------

GOOD = randn(4, 3, seed=18)


def test_bad_names():
    with pytest.raises(ValueError, match="'prior' parameter of sliced_wasserstein.*'hypercube'.*'gaussian'"):
        sliced_wasserstein(GOOD, prior="gaussian")
    with pytest.raises(ValueError, match="'distribution' parameter of generalized_contrastive.*'lse'"):
        generalized_contrastive(GOOD, GOOD, distribution="kl")
    with pytest.raises(ValueError, match="'prior' parameter of generalized_contrastive"):
        generalized_contrastive(GOOD, GOOD, distribution="swd", prior="sphere")
    with pytest.raises(ValueError, match="'prior' parameter of generalized_contrastive.*distribution='lse'"):
        generalized_contrastive(GOOD, GOOD, distribution="lse", prior="normal")
    with pytest.raises(ValueError, match="'prior' parameter of sample_prior"):
        sample_prior("uniform", 3, 2)


@pytest.mark.parametrize(
    "value, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_num_projections(value, error):
    with pytest.raises(error, match="'num_projections' parameter of sliced_wasserstein"):
        sliced_wasserstein(GOOD, num_projections=value)


def test_bad_numbers_and_embeddings():
    where = "generalized_contrastive"
    with pytest.raises(ValueError, match=f"'weight' parameter of {where}"):
        generalized_contrastive(GOOD, GOOD, weight=-1.0)
    with pytest.raises(ValueError, match=f"'temperature' parameter of {where}"):
        generalized_contrastive(GOOD, GOOD, temperature=0)
    with pytest.raises(ValueError, match=f"'temperature' parameter of {where}"):
        generalized_contrastive(GOOD, GOOD, distribution="swd", temperature=float("nan"))
    for distribution in ("lse", "swd"):
        with pytest.raises(ValueError, match=f"'z2' parameter of {where}.*same shape"):
            generalized_contrastive(GOOD, GOOD[:3], distribution=distribution)
        with pytest.raises(ValueError, match=f"'z1' parameter of {where}.*at least 2 rows"):
            generalized_contrastive(GOOD[:1], GOOD[:1], distribution=distribution)
    bad = GOOD.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="'z' parameter of sliced_wasserstein.*finite"):
        sliced_wasserstein(bad)
    with pytest.raises(ValueError, match="'z' parameter of sliced_wasserstein.*2-D"):
        sliced_wasserstein(GOOD[0])
    with pytest.raises(ValueError, match="'num_samples' parameter of sample_prior"):
        sample_prior("normal", 0, 2)
    with pytest.raises(TypeError, match="'dim' parameter of sample_prior"):
        sample_prior("normal", 3, 2.0)


def test_the_identity_is_exact_not_up_to_a_constant():
    # all views equal: NT-Xent = log(2N − 1), and alignment = −1/τ, lse = 1/τ + log(2N − 1)
    z = randn(1, 4, seed=19).expand(5, 4)
    tau = 0.25
    align = generalized_contrastive(z, z, weight=0.0, temperature=tau).item()
    assert align == pytest.approx(-1 / tau, rel=1e-12)
    full = generalized_contrastive(z, z, weight=1.0, temperature=tau).item()
    assert full == pytest.approx(math.log(9), rel=1e-9)
