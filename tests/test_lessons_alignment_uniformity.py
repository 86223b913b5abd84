"""Notebook 03's lesson: the floor of L_uniform in closed form and as a bound, and Spearman's ρ."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import quad
from scipy.special import i0, ive

from edu_contrast import diagnostics
from edu_contrast.lessons import alignment_uniformity as lesson

# ----------------------------------------------------------------------------- the floor of L_uniform


def test_uniform_value_on_the_circle_and_the_sphere_in_closed_form():
    for t in (0.5, 2.0, 7.0):
        assert lesson.uniform_sphere_uniformity(2, t) == pytest.approx(math.log(i0(2 * t)) - 2 * t, rel=1e-12)
        assert lesson.uniform_sphere_uniformity(3, t) == pytest.approx(
            math.log(math.sinh(2 * t) / (2 * t)) - 2 * t, rel=1e-12
        )
    assert lesson.uniform_sphere_uniformity(2) == pytest.approx(-1.5750272, abs=1e-6)
    assert lesson.uniform_sphere_uniformity(3) == pytest.approx(-2.0797771, abs=1e-6)


@pytest.mark.parametrize("dim", [4, 5, 9])
def test_uniform_value_matches_the_integral_over_the_cosine_density(dim):
    t = 2.0
    density = lambda u: (1 - u * u) ** ((dim - 3) / 2)  # of u = x·y, x, y uniform on S^{d−1}
    numerator = quad(lambda u: math.exp(-2 * t + 2 * t * u) * density(u), -1, 1)[0]
    assert lesson.uniform_sphere_uniformity(dim, t) == pytest.approx(
        math.log(numerator / quad(density, -1, 1)[0]), rel=1e-8
    )


def test_uniform_value_tends_to_minus_two_t_and_matches_a_large_sample():
    assert lesson.uniform_sphere_uniformity(20_000) == pytest.approx(-4.0, abs=1e-3)
    points = F.normalize(
        torch.randn(3000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64), dim=1
    )
    assert diagnostics.uniformity(points) == pytest.approx(lesson.uniform_sphere_uniformity(5), abs=0.02)


def test_lower_bound_holds_and_is_tight_for_the_best_configurations():
    # n equally spaced points on the circle: exp(−2t + 2t cos θ) = e^{−2t} Σ_k I_k(2t) e^{ikθ}, and the n-gon
    # keeps only the harmonics k ≡ 0 (mod n), so its mean over all n² pairs is e^{−2t}(I_0 + 2 I_n + 2 I_2n …)
    # — just above the uniform value e^{L*} = e^{−2t} I_0(2t) that the bound uses.
    t = 2.0
    for n in (6, 10, 100, 360):
        angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        ring = torch.stack([angle.cos(), angle.sin()], dim=1)
        all_pairs = ive(0, 2 * t) + 2 * sum(ive(m * n, 2 * t) for m in range(1, 5))
        exact = math.log((n * all_pairs - 1) / (n - 1))
        value, bound = diagnostics.uniformity(ring), lesson.uniformity_lower_bound(n, 2)
        assert value == pytest.approx(exact, abs=1e-12)
        assert bound <= value + 1e-12  # equality up to round-off for large n
        assert n < 10 or value < bound + 2e-3  # tight as soon as n is moderate
    # Two antipodal points reach Jensen's bound −4t exactly.
    pair = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    assert lesson.uniformity_lower_bound(2, 3) == -8.0 == pytest.approx(diagnostics.uniformity(pair))
    # Random points are above the bound too, and the bound tends to the uniform value.
    random = F.normalize(torch.randn(200, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    assert diagnostics.uniformity(random) >= lesson.uniformity_lower_bound(200, 3)
    assert lesson.uniformity_lower_bound(10**7, 3) == pytest.approx(
        lesson.uniform_sphere_uniformity(3), abs=1e-6
    )


def test_floor_arguments_are_checked():
    with pytest.raises(ValueError, match="'dim' parameter of uniform_sphere_uniformity must be an int >= 2"):
        lesson.uniform_sphere_uniformity(1)
    with pytest.raises(ValueError, match="'t' parameter of uniformity_lower_bound must be > 0"):
        lesson.uniformity_lower_bound(10, 3, t=0)


# ----------------------------------------------------------------------------- do they predict the probe?


def test_rank_correlation():
    assert lesson.rank_correlation([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert lesson.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(lesson.rank_correlation([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="two 1-D sequences of the same length"):
        lesson.rank_correlation([1, 2], [1, 2, 3])


# ----------------------------------------------------------------------------- the check of section 5


FLOOR_MARGIN = 0.05  # notebook 03's margin for "most uniform run" (docs/check_margins.md)


def _run(name, *point_sets):
    """A Run whose history holds the uniformity of each (n, d) point set, one per epoch."""
    history = [{"uniformity": diagnostics.uniformity(z)} for z in point_sets]
    z = point_sets[-1]
    return lesson.Run(name, history, None, z, z, torch.zeros(len(z), dtype=torch.long))


def _points(n=360, d=3, pull=0.0, seed=0):
    """n unit vectors in ℝ^d, uniform for pull = 0, crowded around e_1 for a large pull."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return F.normalize(x + pull * F.one_hot(torch.tensor(0), d).double(), dim=1)


def test_floor_effects_measure_the_gap_to_the_bound_that_training_closed():
    start, uniform = _points(pull=2.0), _points(seed=1)
    half = F.normalize(start + uniform, dim=1)  # part of the way
    runs = {"to uniform": _run("to uniform", start, uniform), "halfway": _run("halfway", start, half)}
    effects = lesson.floor_effects(runs, 3)
    before, bound = runs["halfway"].history[0]["uniformity"], lesson.uniformity_lower_bound(360, 3)
    after = runs["halfway"].final["uniformity"]
    assert effects["halfway"] == pytest.approx((before - after) / (before - bound))
    assert 0.9 < effects["to uniform"] < 1.0 and effects["most uniform run"] == effects["to uniform"]
    lesson.check_effect(effects, "most uniform run", margin=FLOOR_MARGIN)
    crowded = lesson.floor_effects({"crowded": _run("crowded", uniform, start)}, 3)["crowded"]
    assert crowded < 0  # training that ends less uniform moves away from the floor
    with pytest.raises(TypeError, match="'runs' parameter of floor_effects"):
        lesson.floor_effects({}, 3)


def test_floor_check_fails_for_an_untrained_encoder():
    """A run of 0 epochs is the BatchNorm-calibrated untrained network: no gap closed, the check fails."""
    from edu_contrast import data, methods
    from edu_contrast.models import SmallConvNet

    train_data = data.load_dataset("digits", "train").subset(256, generator=torch.Generator().manual_seed(0))
    test_data = data.load_dataset("digits", "test").subset(100, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    method = methods.SimCLR(SmallConvNet(in_channels=1, width=4), hidden_dim=16, out_dim=3)
    untrained = lesson.track_run(method, train_data, test_data, epochs=0, name="untrained")
    assert len(untrained.history) == 1
    effects = lesson.floor_effects({"untrained": untrained}, 3)
    with pytest.raises(AssertionError, match="most uniform run = \\+0.000, expected > \\+0.050"):
        lesson.check_effect(effects, "most uniform run", margin=FLOOR_MARGIN)
