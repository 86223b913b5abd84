"""lessons.temperature (notebook 02): the negatives' softmax weights, their entropy against τ, one τ run."""

import math

import pytest
import torch

from edu_contrast import augment, data, diagnostics, measure
from edu_contrast.lessons import temperature as w


def _weights_oracle(positive, negatives, tau):
    """p_k = exp(s⁻_k/τ) / (exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)), one anchor, in Python floats."""
    values = [float(positive)] + [float(v) for v in negatives]
    top = max(values)
    denominator = sum(math.exp((v - top) / tau) for v in values)
    return [math.exp((v - top) / tau) / denominator for v in values[1:]]


def test_similarity_batch_is_fixed_and_nested_across_batch_sizes():
    positive, small = w.similarity_batch(8)
    _, large = w.similarity_batch(64)
    assert small.shape == (14,) and large.shape == (126,)
    assert torch.equal(large[:14], small)
    assert 0.8 < float(positive) <= 1.0
    assert float(large.abs().max()) <= 1.0
    _, full = w.similarity_batch()
    assert float(full.max()) > 0.6  # the anchor's own class gives hard negatives
    assert torch.equal(w.similarity_batch(seed=3)[1], w.similarity_batch(seed=3)[1])


def test_negative_weights_match_the_oracle_and_the_gradient():
    positive, negatives = w.similarity_batch(16)
    for tau in (0.05, 0.3, 2.0):
        p = w.negative_weights(positive, negatives, tau)
        torch.testing.assert_close(p, torch.tensor(_weights_oracle(positive, negatives, tau), dtype=p.dtype))
        s_pos, s_neg = positive.clone().requires_grad_(), negatives.clone().requires_grad_()
        loss = -s_pos / tau + torch.logsumexp(torch.cat([s_pos[None], s_neg]) / tau, dim=0)
        loss.backward()
        torch.testing.assert_close(tau * s_neg.grad, p)  # τ ∂ℓ/∂s⁻_k = p_k
        assert float(p.sum()) < 1.0  # the positive keeps its share


def test_negative_weights_batched_and_stable_in_low_precision():
    g = torch.Generator().manual_seed(0)
    positive, negatives = 0.9 + 0.1 * torch.rand(4, generator=g), torch.rand(4, 6, generator=g)
    p = w.negative_weights(positive, negatives, 0.01)
    assert p.shape == (4, 6) and torch.isfinite(p).all()
    for dtype in (torch.float16, torch.bfloat16):
        q = w.negative_weights(positive.to(dtype), negatives.to(dtype), 0.01)
        assert torch.isfinite(q).all()


def test_entropy_rises_and_the_hardest_share_falls_with_temperature():
    positive, negatives = w.similarity_batch(128)
    taus = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0]
    stats = [w.temperature_summary(positive, negatives, tau) for tau in taus]
    entropy = [s["entropy"] for s in stats]
    hardest = [s["hardest_share"] for s in stats]
    assert all(b > a for a, b in zip(entropy, entropy[1:]))
    assert all(b < a for a, b in zip(hardest, hardest[1:]))
    assert stats[0]["hardest_share"] > 0.99 and stats[-1]["entropy_ratio"] > 0.99
    for s in stats:
        assert s["loss"] == pytest.approx(-math.log(s["positive_weight"]), rel=1e-9)
        assert 1.0 <= s["effective_negatives"] <= len(negatives)
        assert s["positive_gradient"] == pytest.approx((1 - s["positive_weight"]) / s["temperature"])


def _unit_rows(directions, d):
    eye = torch.eye(d, dtype=torch.float64)
    return torch.cat([torch.stack([eye[j], -eye[j]]) for j in directions])  # ±e_j, mean zero


def test_top_eigenvalue_ratio_closed_forms():
    assert w.top_eigenvalue_ratio(_unit_rows(range(8), 8), k=5) == pytest.approx(5 / 8)  # isotropic
    assert w.top_eigenvalue_ratio(_unit_rows([0, 0, 0], 8), k=5) == pytest.approx(1.0)  # one direction
    scaled = 7.0 * _unit_rows(range(8), 8)  # rows are normalised first: the scale does not matter
    assert w.top_eigenvalue_ratio(scaled, k=2) == pytest.approx(2 / 8)


def test_errors_name_the_parameter():
    positive, negatives = w.similarity_batch(8)
    with pytest.raises(ValueError, match="'temperature' parameter of negative_weights"):
        w.negative_weights(positive, negatives, 0.0)
    with pytest.raises(ValueError, match="'positive'"):
        w.negative_weights(torch.zeros(3), torch.zeros(2, 5), 0.1)
    with pytest.raises(ValueError, match="'batch_size' parameter of similarity_batch"):
        w.similarity_batch(w.MAX_BATCH_SIZE + 1)
    with pytest.raises(ValueError, match="'positive' parameter of temperature_summary"):
        w.temperature_summary(torch.zeros(2), torch.zeros(2, 3), 0.1)


def test_push_share_is_the_cumulative_share_hardest_first():
    positive, negatives = w.similarity_batch(32)
    push = w.push_share(positive, negatives, 0.1)
    p = w.negative_weights(positive, negatives, 0.1)
    torch.testing.assert_close(push["weights"], p.double())
    assert push["share"][-1] == pytest.approx(1.0) and bool((push["share"].diff() >= 0).all())
    hardest = int(negatives.argmax())
    assert float(push["share"][0]) == pytest.approx(float(p[hardest] / p.sum()))
    top = math.ceil(0.05 * len(negatives))
    summary = w.temperature_summary(positive, negatives, 0.1)
    assert float(push["share"][top - 1]) == pytest.approx(summary["hardest_share"])
    assert push["fraction"][0] == pytest.approx(1 / len(negatives)) and push["fraction"][-1] == 1.0


def test_temperature_run_measures_with_measure():
    train_data = data.load_dataset("digits", "train").subset(256, generator=torch.Generator().manual_seed(0))
    test_data = data.load_dataset("digits", "test").subset(100, generator=torch.Generator().manual_seed(0))
    row, z = w.temperature_run(0.2, train_data, test_data, epochs=1, width=4, batch_size=64)
    assert set(measure.REPORT_KEYS) <= set(row) and "knn_accuracy" in row and "effective_rank" not in row
    assert row["temperature"] == 0.2 and z.shape == (100, 128)
    assert row["erank_z"] == pytest.approx(diagnostics.effective_rank(z), rel=1e-5)
    assert row["uniformity"] == pytest.approx(diagnostics.uniformity(z), rel=1e-5)
    assert row["top5_ratio"] == pytest.approx(w.top_eigenvalue_ratio(z, k=5))
    assert all(math.isfinite(v) for v in row.values())
    assert row["seed"] == 0 and -1.0 <= row["knn_gain"] <= 1.0


def test_temperature_runs_cover_every_tau_and_seed_and_repeat():
    train_data = data.load_dataset("digits", "train").subset(128, generator=torch.Generator().manual_seed(0))
    test_data = data.load_dataset("digits", "test").subset(64, generator=torch.Generator().manual_seed(0))
    kw = {"epochs": 1, "width": 4, "batch_size": 64}
    rows, z = w.temperature_runs([0.1, 0.5], [3, 4], train_data, test_data, **kw)
    assert [(r["temperature"], r["seed"]) for r in rows] == [(0.1, 3), (0.5, 3), (0.1, 4), (0.5, 4)]
    assert set(z) == {(0.1, 3), (0.5, 3), (0.1, 4), (0.5, 4)} and z[(0.1, 3)].shape == (64, 128)
    again, _ = w.temperature_runs([0.5], [4], train_data, test_data, **kw)
    assert again[0]["uniformity"] == pytest.approx(rows[3]["uniformity"], abs=1e-5)  # seeded
    assert rows[0]["uniformity"] != rows[2]["uniformity"]  # another seed, another run
    with pytest.raises(ValueError, match="temperatures"):
        w.temperature_runs([], [0], train_data, test_data, **kw)


def test_seed_table_mean_and_sample_std_per_tau():
    rows = [
        {"temperature": 0.2, "uniformity": -3.0},
        {"temperature": 0.03, "uniformity": -1.0},
        {"temperature": 0.2, "uniformity": -2.0},
        {"temperature": 0.2, "uniformity": -1.0},
    ]
    table = w.seed_table(rows, keys=("uniformity",))
    assert list(table) == [0.03, 0.2]
    mean, std, lowest, highest = table[0.2]["uniformity"]
    assert mean == pytest.approx(-2.0) and std == pytest.approx(1.0)  # √((1 + 0 + 1) / 2)
    assert (lowest, highest) == (-3.0, -1.0) and table[0.03]["uniformity"] == (-1.0, 0.0, -1.0, -1.0)
    with pytest.raises(ValueError, match="rows"):
        w.seed_table([])


# ---------------------------------------------------------------- the augmentations, one step at a time
def _images(channels=3, n=4, size=12):
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))


def test_active_steps_follow_the_config_and_the_channels():
    recipe = augment.AugmentConfig()
    assert w.active_steps(recipe, 3) == ["crop", "flip", "colour jitter", "grayscale"]
    assert w.active_steps(recipe, 1) == ["crop", "flip", "colour jitter"]  # grayscale needs colour
    assert w.active_steps(augment.AugmentConfig.strong(), 3)[-2:] == ["blur", "solarize"]
    assert w.active_steps(augment.AugmentConfig.for_size(8), 1) == ["crop", "colour jitter"]  # no flip


def test_every_step_switched_off_leaves_the_images_unchanged():
    config = augment.AugmentConfig.strong()
    for step in w.active_steps(config, 3):
        assert step in w.active_steps(config, 3) and step not in w.active_steps(
            w.without_step(config, step), 3
        )
        config = w.without_step(config, step)
    x = _images()
    view1, view2 = w.two_views(x, config)
    assert torch.allclose(view1, x, atol=1e-6) and torch.allclose(view2, x, atol=1e-6)
    assert w.without_step(config, "nothing") is config
    with pytest.raises(ValueError, match="'step' parameter of without_step must be one of 'nothing', 'crop'"):
        w.without_step(config, "rotate")


def test_two_views_differ_repeat_with_the_seed_and_keep_the_crop_when_the_jitter_is_off():
    x, recipe = _images(), augment.AugmentConfig()
    view1, view2 = w.two_views(x, recipe, seed=3)
    assert view1.shape == x.shape and not torch.allclose(view1, view2)
    assert torch.equal(w.two_views(x, recipe, seed=3)[0], view1)
    steps = w.view_steps(x, recipe, seed=3, index=1)
    assert [name for name, _ in steps] == ["x", "crop + flip", "colour jitter", "grayscale"]
    assert torch.equal(steps[-1][1], view1[1])  # the strip ends at the view it explains
    no_jitter = w.two_views(x, w.without_step(recipe, "colour jitter"), seed=3)[0]
    assert torch.equal(no_jitter[1], steps[1][1])  # same crop and flip, no colour change


# ------------------------------------------------------------------------ the check of section 2: hardness


HARDNESS_MARGIN = 0.3  # notebook 02's margin for hard_negatives_same_class (docs/check_margins.md)


def _classes(n_per_class=30, classes=6, dim=8, spread=0.15, seed=0):
    """(n, dim) embeddings grouped around one centre per class, and their labels (n,)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(
        torch.randn(classes, dim, generator=g, dtype=torch.float64), dim=1
    )
    labels = torch.arange(classes).repeat_interleave(n_per_class)  # (n,)
    return centres[labels] + spread * torch.randn(len(labels), dim, generator=g, dtype=torch.float64), labels


def test_same_class_push_matches_a_loop_and_its_limits():
    z, labels = _classes(n_per_class=4, classes=3, dim=5)
    u = torch.nn.functional.normalize(z, dim=1)
    n, tau = len(u), 0.3
    shares = []
    for i in range(n):  # π_ik = exp(s_ik/τ) / Σ_{m≠i} exp(s_im/τ), summed over k of the anchor's class
        weights = {k: math.exp(float(u[i] @ u[k]) / tau) for k in range(n) if k != i}
        shares.append(sum(v for k, v in weights.items() if labels[k] == labels[i]) / sum(weights.values()))
    assert w.same_class_push(z, labels, tau) == pytest.approx(sum(shares) / n, rel=1e-9)
    # τ → ∞: every other image pushed equally, the share is the class's fraction of the others (3 of 11);
    # τ → 0: all of the push on the nearest neighbour, the share is its class agreement.
    assert w.same_class_push(z, labels, 1e6) == pytest.approx(3 / 11, rel=1e-4)
    s = (u @ u.T).fill_diagonal_(-2.0)
    nearest_same = (labels[s.argmax(dim=1)] == labels).double().mean()
    assert w.same_class_push(z, labels, 1e-4) == pytest.approx(float(nearest_same), abs=1e-6)
    with pytest.raises(ValueError, match="'labels' parameter of same_class_push"):
        w.same_class_push(z, labels[:-1], tau)
    with pytest.raises(ValueError, match="'small' parameter of hardness_effects"):
        w.hardness_effects(z, labels, small=1.0, large=0.5)


def test_hardness_check_passes_when_the_nearest_images_share_the_class():
    z, labels = _classes()
    effects = w.hardness_effects(z, labels)
    assert effects["same_class_small"] > 0.9 and effects["same_class_large"] < 0.4
    w.check_effect(effects, "hard_negatives_same_class", margin=HARDNESS_MARGIN)


@pytest.mark.parametrize("broken", ["labels shuffled", "no class structure", "collapsed"])
def test_hardness_check_fails_without_the_effect(broken):
    """Whatever τ does to the softmax, the check fails when the nearest images are not the anchor's class."""
    z, labels = _classes()
    if broken == "labels shuffled":
        labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    elif broken == "no class structure":
        z = torch.randn(z.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    else:  # every image on one point: every τ pushes every other image equally
        z = torch.ones_like(z)
    effects = w.hardness_effects(z, labels)
    with pytest.raises(AssertionError, match="hard_negatives_same_class = .*, expected > \\+0.300"):
        w.check_effect(effects, "hard_negatives_same_class", margin=HARDNESS_MARGIN)
