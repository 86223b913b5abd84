"""lessons.infonce (notebook 01): InfoNCE as an MI estimator on Gaussians; closed forms, oracle, log N cap."""

import math

import numpy as np
import pytest
import torch

from edu_contrast import losses
from edu_contrast.lessons import infonce as mi


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- the data and its MI


def test_gaussian_mi_closed_form_and_additivity():
    assert mi.gaussian_mutual_information(0.6, 1) == pytest.approx(-0.5 * math.log(1 - 0.36))
    assert mi.gaussian_mutual_information(0.6, 7) == pytest.approx(7 * mi.gaussian_mutual_information(0.6, 1))
    assert mi.gaussian_mutual_information(-0.6, 3) == pytest.approx(mi.gaussian_mutual_information(0.6, 3))
    assert mi.gaussian_mutual_information(0.0, 5) == 0.0


def test_samples_have_unit_variance_and_correlation_rho():
    x, y = mi.sample_correlated_gaussians(50_000, 3, 0.7, generator=_g())
    assert x.shape == y.shape == (50_000, 3)
    torch.testing.assert_close(x.var(0), torch.ones(3), atol=0.03, rtol=0)
    torch.testing.assert_close(y.var(0), torch.ones(3), atol=0.03, rtol=0)
    correlation = ((x - x.mean(0)) * (y - y.mean(0))).mean(0) / (x.std(0) * y.std(0))
    torch.testing.assert_close(correlation, torch.full((3,), 0.7), atol=0.015, rtol=0)
    cross = (x[:, 0] * y[:, 1]).mean()  # different coordinates are independent
    assert abs(float(cross)) < 0.02


def test_sampling_is_repeatable_and_batched():
    a = mi.sample_correlated_gaussians(5, 2, 0.3, batches=4, generator=_g(1))
    b = mi.sample_correlated_gaussians(5, 2, 0.3, batches=4, generator=_g(1))
    assert a[0].shape == (4, 5, 2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def _log_normal(v, mean, var):
    return -0.5 * math.log(2 * math.pi * var) - (v - mean) ** 2 / (2 * var)


def test_optimal_critic_matches_a_density_oracle():
    """f*(x_i, y_j) = log p(y_j | x_i) − log p(y_j), summed over coordinates, with Python floats."""
    rho, n, d = 0.8, 4, 3
    x, y = mi.sample_correlated_gaussians(n, d, rho, generator=_g(2))
    scores = mi.optimal_critic(x.double(), y.double(), rho)
    v = 1 - rho**2
    for i in range(n):
        for j in range(n):
            expected = sum(
                _log_normal(float(y[j, c]), rho * float(x[i, c]), v) - _log_normal(float(y[j, c]), 0.0, 1.0)
                for c in range(d)
            )
            assert float(scores[i, j]) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_pointwise_mi_averages_to_the_true_mi():
    rho, d = 0.7, 4
    x, y = mi.sample_correlated_gaussians(100, d, rho, batches=400, generator=_g(3))
    pointwise = mi.optimal_critic(x.double(), y.double(), rho).diagonal(dim1=-2, dim2=-1)  # (400, 100)
    assert float(pointwise.mean()) == pytest.approx(mi.gaussian_mutual_information(rho, d), abs=0.03)


# ----------------------------------------------------------------------------- the bound


def _bound_oracle(scores):
    """(1/N) Σ_i log( N e^{s_ii} / Σ_j e^{s_ij} ), term by term in Python floats."""
    rows = scores.double().tolist()
    n = len(rows)
    total = 0.0
    for i, row in enumerate(rows):
        top = max(row)
        lse = top + math.log(sum(math.exp(v - top) for v in row))
        total += math.log(n) + row[i] - lse
    return total / n


def test_bound_matches_the_definition():
    scores = torch.randn(7, 7, generator=_g(4), dtype=torch.float64) * 3
    assert float(mi.infonce_bound(scores)) == pytest.approx(_bound_oracle(scores), rel=1e-12)


def test_bound_never_exceeds_log_n_and_reaches_it_for_a_perfect_critic():
    for seed in range(20):
        n = 2 + seed
        scores = torch.randn(n, n, generator=_g(seed)) * 50  # wild critics, huge logits
        assert float(mi.infonce_bound(scores)) <= math.log(n) + 1e-5
    perfect = 1000.0 * torch.eye(16)  # the positive dominates every row
    assert float(mi.infonce_bound(perfect)) == pytest.approx(math.log(16), abs=1e-6)
    assert float(mi.infonce_bound(torch.zeros(16, 16))) == pytest.approx(0.0, abs=1e-6)  # uninformative


def test_batched_bound_is_the_mean_over_batches():
    scores = torch.randn(3, 5, 5, generator=_g(5), dtype=torch.float64)
    expected = sum(_bound_oracle(s) for s in scores) / 3
    assert float(mi.infonce_bound(scores)) == pytest.approx(expected, rel=1e-12)


def test_bound_gradcheck():
    scores = torch.randn(4, 4, generator=_g(6), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mi.infonce_bound, (scores,))


def test_optimal_estimate_is_capped_grows_with_n_and_is_tight_for_small_mi():
    rho, d = 0.7, 10
    true_mi = mi.gaussian_mutual_information(rho, d)
    estimates = [
        mi.estimate_mi(None, rho=rho, dim=d, batch_size=n, samples=4096, generator=_g(7))
        for n in (2, 16, 128)
    ]
    for n, estimate in zip((2, 16, 128), estimates):
        assert estimate <= math.log(n) + 1e-6
        assert estimate <= true_mi + 0.05
    assert estimates[0] < estimates[1] < estimates[2]
    small = mi.gaussian_mutual_information(0.3, 2)  # 0.094 nats: N = 512 ≫ e^I
    tight = mi.estimate_mi(None, rho=0.3, dim=2, batch_size=512, samples=8192, generator=_g(8))
    assert tight == pytest.approx(small, abs=0.02)


# ----------------------------------------------------------------------------- the learned critic


def test_training_a_critic_approaches_the_optimal_bound():
    torch.manual_seed(0)
    rho, d, n = 0.8, 4, 32
    critic = mi.SeparableCritic(d, hidden=32, embed_dim=16)
    before = mi.estimate_mi(critic, rho=rho, dim=d, batch_size=n, samples=2048, generator=_g(9))
    history = mi.train_critic(critic, rho=rho, batch_size=n, steps=100, lr=3e-3, generator=_g(10))
    after = mi.estimate_mi(critic, rho=rho, dim=d, batch_size=n, samples=2048, generator=_g(9))
    optimal = mi.estimate_mi(None, rho=rho, dim=d, batch_size=n, samples=2048, generator=_g(9))
    assert len(history) == 100 and all(math.isfinite(h) for h in history)
    assert after > before + 1.0
    assert optimal - 0.35 < after <= optimal + 0.05
    assert critic.training  # estimate_mi restores the mode


def test_experiment_rows_are_repeatable_and_bounded():
    rows = mi.infonce_vs_batch_size([2, 8], rho=0.5, dim=3, steps=30, seed=1)
    again = mi.infonce_vs_batch_size([2, 8], rho=0.5, dim=3, steps=30, seed=1)
    assert [r["batch_size"] for r in rows] == [2, 8]
    keys = {"batch_size", "log_n", "true_mi", "learned", "untrained", "optimal", "train_history"}
    assert set(rows[0]) == keys
    for r, s in zip(rows, again):
        assert r["learned"] == s["learned"] and r["optimal"] == s["optimal"]
        assert r["untrained"] == s["untrained"]
        assert r["learned"] <= r["log_n"] + 1e-6 and r["optimal"] <= r["log_n"] + 1e-6
        assert len(r["train_history"]) == 30


def test_the_untrained_baseline_is_the_critic_before_training():
    """The untrained critic's estimate is that of a fresh SeparableCritic with the row's seed, near 0 nats."""
    (row,) = mi.infonce_vs_batch_size([64], rho=0.7, dim=4, steps=200, seed=3)
    torch.manual_seed(3 + 64)
    fresh = mi.SeparableCritic(4)
    held_out = torch.Generator().manual_seed(10_000 + 3 + 64)
    expected = mi.estimate_mi(fresh, rho=0.7, dim=4, batch_size=64, generator=held_out)
    assert row["untrained"] == pytest.approx(expected, abs=1e-6)
    assert abs(row["untrained"]) < 0.2  # random φ, χ: the score ignores which y belongs to which x
    assert row["learned"] - row["untrained"] > 0.5 * row["optimal"]  # training recovers most of the bound


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("rho", [1.0, -1.0, 1.5, float("nan")])
def test_rho_outside_the_open_interval_is_rejected(rho):
    with pytest.raises(ValueError, match="'rho' parameter of gaussian_mutual_information"):
        mi.gaussian_mutual_information(rho, 2)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(TypeError, match="'rho'"):
        mi.sample_correlated_gaussians(4, 2, True)
    with pytest.raises(ValueError, match="'dim'"):
        mi.sample_correlated_gaussians(4, 0, 0.5)
    with pytest.raises(ValueError, match="'scores'.*square"):
        mi.infonce_bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        mi.infonce_bound(torch.zeros(1, 1))
    with pytest.raises(TypeError, match="'scores'"):
        mi.infonce_bound([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="'y'.*same shape"):
        mi.optimal_critic(torch.zeros(3, 2), torch.zeros(3, 4), 0.5)
    with pytest.raises(TypeError, match="'critic'"):
        mi.train_critic(torch.nn.Linear(2, 2), rho=0.5, batch_size=4)
    with pytest.raises(ValueError, match="'batch_size'"):
        mi.train_critic(mi.SeparableCritic(2), rho=0.5, batch_size=1)
    with pytest.raises(ValueError, match="'dim'.*critic's input size 2"):
        mi.estimate_mi(mi.SeparableCritic(2), rho=0.5, dim=3, batch_size=4)
    with pytest.raises(ValueError, match="'batch_sizes'"):
        mi.infonce_vs_batch_size([], rho=0.5, dim=2)


def test_bound_curve_grows_and_stays_under_log_n():
    sizes = [2, 8, 32, 128]
    curve = mi.bound_curve(0.7, 10, sizes, samples=2048)
    assert np.all(np.diff(curve) > 0)
    assert np.all(curve <= np.log(sizes) + 1e-6)
    assert np.all(curve <= mi.gaussian_mutual_information(0.7, 10) + 0.05)


def test_margin_loss_curves_are_d_squared_and_hinge_squared():
    curves = mi.margin_loss_curves(1.5, max_distance=3.0, points=31)
    d = curves["distance"]
    assert d[0] == 0 and d[-1] == pytest.approx(3.0) and len(d) == 31
    np.testing.assert_allclose(curves["positive"], d**2, atol=1e-12)
    np.testing.assert_allclose(curves["negative"], np.maximum(0, 1.5 - d) ** 2, atol=1e-12)
    with pytest.raises(ValueError, match="'margin' parameter of margin_loss_curves"):
        mi.margin_loss_curves(0.0)


# ----------------------------------------------------------------------------- the NT-Xent logits (exercise)


def test_nt_xent_logits_match_a_loop_oracle_and_give_the_nt_xent_loss():
    g = _g(3)
    z1, z2 = (
        torch.randn(5, 4, generator=g, dtype=torch.float64),
        torch.randn(5, 4, generator=g, dtype=torch.float64),
    )
    logits, labels = mi.nt_xent_logits(z1 * 3, z2, 0.2)
    z = torch.cat([z1 * 3, z2])
    for i in range(10):
        for j in range(10):
            cosine = float(z[i] @ z[j] / (z[i].norm() * z[j].norm()))
            assert (logits[i, j] == float("-inf")) if i == j else logits[i, j] == pytest.approx(cosine / 0.2)
        assert int(labels[i]) == (i + 5) % 10
    assert labels.dtype == torch.int64
    loss = torch.nn.functional.cross_entropy(logits, labels)
    torch.testing.assert_close(loss, losses.nt_xent(z1 * 3, z2, temperature=0.2))


def test_nt_xent_logits_of_identical_views_give_log_2n_minus_1():
    same = torch.ones(8, 3)
    loss = torch.nn.functional.cross_entropy(*mi.nt_xent_logits(same, same, 0.05))
    assert float(loss) == pytest.approx(math.log(15), abs=1e-5)


def test_nt_xent_logits_reject_bad_arguments():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="'z2'.*same shape"):
        mi.nt_xent_logits(z, torch.randn(5, 3), 0.1)
    with pytest.raises(ValueError, match="'temperature'"):
        mi.nt_xent_logits(z, z, 0.0)
    with pytest.raises(TypeError, match="'z1'"):
        mi.nt_xent_logits(z.numpy(), z, 0.1)
