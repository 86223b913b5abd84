"""Notebook 08's lesson: fixed-seed SWD, projections, the exact sphere-projection density, the 2-D toy."""

from __future__ import annotations

import math

import pytest
import torch

from edu_contrast import losses
from edu_contrast.lessons import generalized as lesson


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("dim, num", [(4, None), (4, 10), (6, 2)])
def test_random_directions_are_orthonormal_blocks_and_seeded(dim, num):
    w = lesson.random_directions(dim, num, seed=3)
    k = num or dim
    assert w.shape == (dim, k) and w.dtype == torch.float32
    assert torch.allclose(w.norm(dim=0), torch.ones(k), atol=1e-6)
    block = w[:, : min(dim, k)]
    assert torch.allclose(block.T @ block, torch.eye(block.shape[1]), atol=1e-5)
    assert torch.equal(lesson.random_directions(dim, num, seed=3), w)
    assert not torch.equal(lesson.random_directions(dim, num, seed=4), w)


def test_wasserstein_1d_closed_forms_and_the_sliced_loss():
    a = torch.randn(200, generator=torch.Generator().manual_seed(0), dtype=torch.float64)  # (n,)
    assert math.isclose(float(lesson.wasserstein_1d(a, a + 0.5)), 0.25, rel_tol=1e-9)  # a shift: shift²
    assert float(lesson.wasserstein_1d(a, a.flip(0))) == 0.0  # the same values in another order
    assert math.isclose(float(lesson.wasserstein_1d(a, 2 * a)), float(a.pow(2).mean()), rel_tol=1e-9)
    # Averaged over the K directions losses.sliced_wasserstein draws, it is that loss.
    z = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))  # (N, d)
    g = torch.Generator().manual_seed(5)
    prior = losses.sample_prior("normal", 30, 4, generator=g)  # the loss's draws, in its order
    directions = torch.linalg.qr(torch.randn(4, 4, generator=g)).Q  # (d, K), as _orthogonal_directions
    sliced = torch.stack([lesson.wasserstein_1d(z @ w, prior @ w) for w in directions.T]).mean()
    expected = losses.sliced_wasserstein(z, prior="normal", generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(sliced, expected)


def test_project_on_directions_is_a_matrix_product_and_normalises_for_the_sphere():
    z, w = randn(10, 3, seed=1).float(), lesson.random_directions(3, 2)
    assert torch.allclose(lesson.project_on_directions(z, w), z @ w, atol=1e-6)
    unit = torch.nn.functional.normalize(z, dim=1)
    assert torch.allclose(lesson.project_on_directions(5 * z, w, prior="hypersphere"), unit @ w, atol=1e-6)
    with pytest.raises(ValueError, match="'directions'"):
        lesson.project_on_directions(z, lesson.random_directions(4, 2))


@pytest.mark.parametrize("prior", lesson.PRIORS)
def test_swd_to_prior_is_the_loss_with_a_seeded_generator(prior):
    z = randn(50, 4, seed=2)
    expected = losses.sliced_wasserstein(z.float(), prior=prior, generator=torch.Generator().manual_seed(7))
    assert lesson.swd_to_prior(z, prior, seed=7) == pytest.approx(float(expected), rel=1e-6)
    assert lesson.swd_to_prior(z, prior, seed=7) == lesson.swd_to_prior(z, prior, seed=7)


@pytest.mark.parametrize("prior", lesson.PRIORS)
def test_swd_to_prior_prefers_samples_of_the_prior(prior):
    g = torch.Generator().manual_seed(11)
    own = losses.sample_prior(prior, 500, 8, generator=g)
    shifted = own + 0.5  # the same shape moved off the prior
    own_distance = lesson.swd_to_prior(own, prior)
    assert own_distance < 0.1 * lesson.swd_to_prior(shifted, prior) or prior == "hypersphere"
    squeezed = torch.nn.functional.normalize(own, dim=1) * 0 + own[:1]  # every point the same: collapse
    assert lesson.swd_to_prior(own, prior) < 0.2 * lesson.swd_to_prior(squeezed, prior)


@pytest.mark.parametrize("dim", [2, 3, 5, 64])
def test_sphere_projection_density_integrates_to_one_with_variance_one_over_d(dim):
    t = torch.linspace(-1, 1, 200_001, dtype=torch.float64)
    t = t[1:-1] if dim == 2 else t  # the d = 2 density is infinite at ±1
    p = lesson.sphere_projection_density(dim, t)
    mass = torch.trapezoid(p, t)
    variance = torch.trapezoid(p * t**2, t)
    assert float(mass) == pytest.approx(1.0, abs=5e-3 if dim == 2 else 1e-6)
    assert float(variance) == pytest.approx(1 / dim, rel=1e-2 if dim == 2 else 1e-5)


def test_sphere_projection_density_closed_forms_and_monte_carlo():
    assert torch.allclose(
        lesson.sphere_projection_density(3, [-0.9, 0.0, 0.5]), torch.full((3,), 0.5, dtype=torch.float64)
    )
    assert float(lesson.sphere_projection_density(4, 1.5)) == 0.0
    # Monte Carlo: the first coordinate of uniform points on S^4 falls in [0.2, 0.4] with the density's mass.
    u = losses.sample_prior("hypersphere", 200_000, 5, generator=torch.Generator().manual_seed(0))[:, 0]
    t = torch.linspace(0.2, 0.4, 2001, dtype=torch.float64)
    assert float(((u > 0.2) & (u < 0.4)).double().mean()) == pytest.approx(
        float(torch.trapezoid(lesson.sphere_projection_density(5, t), t)), abs=3e-3
    )
    with pytest.raises(ValueError, match="'dim'"):
        lesson.sphere_projection_density(1, 0.0)


def test_toy_inputs_are_balanced_blobs():
    x, y = lesson.toy_inputs(300, seed=1)
    assert x.shape == (300, 2) and torch.equal(torch.bincount(y), torch.tensor([100, 100, 100]))
    for label, centre in enumerate(lesson.TOY_CENTRES):
        assert torch.allclose(x[y == label].mean(dim=0), torch.tensor(centre), atol=0.1)
    assert torch.equal(lesson.toy_inputs(300, seed=1)[0], x)


@pytest.mark.parametrize("prior", lesson.PRIORS)
def test_toy_training_moves_z_towards_the_prior(prior):
    before = lesson.train_toy(prior, steps=0)
    after = lesson.train_toy(prior, steps=100, weight=3.0)
    assert after["swd"] < 0.5 * before["swd"]
    assert after["z"].shape == (512, 2) and after["labels"].shape == (512,)


def test_toy_weight_trades_alignment_for_matching():
    small = lesson.train_toy("hypercube", weight=0.1, steps=100)
    large = lesson.train_toy("hypercube", weight=10.0, steps=100)
    assert large["swd"] < small["swd"]
    assert large["alignment"] > small["alignment"]


def test_toy_is_seeded_and_leaves_global_state_alone():
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = lesson.train_toy("normal", steps=5, seed=2)
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads
    assert torch.equal(lesson.train_toy("normal", steps=5, seed=2)["z"], first["z"])


def test_toy_and_grid_bad_inputs():
    with pytest.raises(ValueError, match="'prior'.*'hypersphere' when distribution='lse'"):
        lesson.train_toy("normal", distribution="lse")
    with pytest.raises(ValueError, match="'weight'"):
        lesson.train_toy(weight=-1.0)
    with pytest.raises(ValueError, match="'temperatures'"):
        lesson.weight_temperature_grid([1.0], [0.0])


def test_weight_temperature_grid_shapes_and_entries():
    grid = lesson.weight_temperature_grid([0.5, 2.0], [0.1, 0.2, 0.4], steps=3)
    assert grid["alignment"].shape == (3, 2) and grid["uniformity"].shape == (3, 2)
    run = lesson.train_toy("hypersphere", distribution="lse", weight=2.0, temperature=0.2, steps=3, out_dim=8)
    assert float(grid["alignment"][1, 1]) == pytest.approx(run["alignment"], rel=1e-5)
    assert float(grid["uniformity"][1, 1]) == pytest.approx(run["uniformity"], rel=1e-5)
    assert bool((grid["uniformity"] <= 0).all()) and not math.isnan(float(grid["alignment"].sum()))


def test_doubling_effects_recover_the_slopes_of_a_plane():
    weights, temperatures = torch.tensor([0.5, 1.0, 2.0, 4.0]), torch.tensor([0.05, 0.1, 0.2])
    log_t, log_w = torch.meshgrid(torch.log2(temperatures), torch.log2(weights), indexing="ij")  # (T, W)
    plane = 0.3 * log_w - 0.1 * log_t + 2.0
    grid = {"weights": weights, "temperatures": temperatures, "alignment": plane, "uniformity": -plane}
    effects = lesson.doubling_effects(grid, "alignment")
    assert effects["weight"] == pytest.approx(0.3) and effects["temperature"] == pytest.approx(-0.1)
    assert lesson.doubling_effects(grid, "uniformity")["weight"] == pytest.approx(-0.3)
    with pytest.raises(ValueError, match="'key'"):
        lesson.doubling_effects(grid, "swd")


def test_scale_and_load_data_per_mode():
    """Quick: the whole 8×8 digits; lab: a seeded, stratified 16×16 Fashion-MNIST subset."""
    assert lesson.scale("quick")["grid_steps"] < lesson.scale("lab")["grid_steps"]
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        lesson.scale("fast")
    train, test = lesson.load_data("quick")
    assert train.images.shape[1:] == (1, 8, 8) and (len(train), len(test)) == (1437, 360)
    lab_train, lab_test = lesson.load_data("lab", seed=0)
    assert lab_train.images.shape == (4000, 1, 16, 16) and len(lab_test) == 1000
    assert torch.bincount(lab_test.labels).tolist() == [100] * 10  # stratified


# ----------------------------------------------------------------------------- the check of section 5

PAST_THE_MIDDLE_MARGIN = 0.2  # notebook 08's margin (docs/check_margins.md)


def test_past_the_middle_runs_train_the_three_points():
    runs = lesson.past_the_middle_runs(weight=1.0, temperatures=(0.2, 1.0), steps=3, seed=1)
    # the run of the same λτ as (λ = 1, τ = 1): λ = 5 at τ = 0.2
    same_product = lesson.train_toy("hypersphere", distribution="lse", weight=5.0, temperature=0.2, steps=3,
                                    out_dim=8, seed=1)  # fmt: skip
    assert runs["large_weight"] == pytest.approx(same_product["uniformity"], rel=1e-6)
    effects = lesson.temperature_weight_effects(runs)
    assert effects["tau_raised_past_the_middle"] == runs["large_temperature"] - runs["middle"]
    assert effects["tau_against_weight"] == runs["large_temperature"] - runs["large_weight"]
    with pytest.raises(ValueError, match="'temperatures' parameter of past_the_middle_runs"):
        lesson.past_the_middle_runs(temperatures=(1.0, 0.2))
    with pytest.raises(ValueError, match="'runs' parameter of temperature_weight_effects"):
        lesson.temperature_weight_effects({"middle": -2.0})


def test_past_the_middle_check_passes_on_the_toy():
    """The notebook's quick setting (150 steps): τ = 1 spreads less than τ = 0.2, and less than λ = 5 at
    τ = 0.2 (the same λτ)."""
    effects = lesson.temperature_weight_effects(lesson.past_the_middle_runs(steps=150, seed=0))
    lesson.check_effect(effects, "tau_raised_past_the_middle", margin=PAST_THE_MIDDLE_MARGIN)
    assert effects["tau_against_weight"] > effects["tau_raised_past_the_middle"]


@pytest.mark.parametrize("broken", ["tau only scales the weight", "tau does nothing"])
def test_past_the_middle_check_fails_without_the_effect(broken):
    """If τ only scaled λ (uniformity a function of λτ), raising τ would spread more; if τ did nothing,
    raising it would change nothing. Either way the check fails."""
    if broken == "tau only scales the weight":  # uniformity a function of λτ alone
        uniformity = lambda weight, tau: -2.0 - 0.3 * math.log2(weight * tau)  # noqa: E731
    else:  # uniformity a function of λ alone
        uniformity = lambda weight, tau: -2.0 - 0.3 * math.log2(weight)  # noqa: E731
    runs = {"middle": uniformity(1.0, 0.2), "large_temperature": uniformity(1.0, 1.0),
            "large_weight": uniformity(5.0, 0.2)}  # fmt: skip
    effects = lesson.temperature_weight_effects(runs)
    with pytest.raises(AssertionError, match="tau_raised_past_the_middle = .*, expected > \\+0.200"):
        lesson.check_effect(effects, "tau_raised_past_the_middle", margin=PAST_THE_MIDDLE_MARGIN)
