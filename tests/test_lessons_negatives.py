"""Notebook 13's lesson: false negatives against the prior, N_g, hard-negative weights, the spectral graph."""

from __future__ import annotations

import math

import pytest
import torch

from edu_contrast import losses
from edu_contrast.lessons import negatives as lesson


def test_class_prior_is_the_chance_that_another_sample_shares_the_class():
    labels = torch.tensor([0, 0, 1, 1, 1])
    assert lesson.class_prior(labels) == pytest.approx((2 * 1 + 3 * 2) / (5 * 4))
    balanced = torch.arange(1000) % 10
    assert lesson.class_prior(balanced) == pytest.approx(1 / 10, abs=1e-3)
    with pytest.raises(ValueError, match="'labels' parameter of class_prior"):
        lesson.class_prior([3])


def test_false_negative_share_matches_the_prior_and_a_class_sorted_loader_breaks_the_check():
    labels = torch.arange(2000) % 10
    measured = lesson.false_negative_fraction(labels, 64, batches=200, seed=0)
    assert lesson.prior_matches(measured, labels, tolerance=0.01)
    # A loader that does not shuffle class-sorted data: batches of one class, every negative is false.
    unshuffled = lesson.false_negative_fraction(labels.sort().values, 64, shuffle=False)
    assert unshuffled > 0.8 and not lesson.prior_matches(unshuffled, labels, tolerance=0.01)
    two = labels % 2
    assert lesson.false_negative_fraction(two, 64) == pytest.approx(lesson.class_prior(two), abs=0.01)
    with pytest.raises(ValueError, match="'batch_size' parameter of false_negative_fraction"):
        lesson.false_negative_fraction(labels[:10], 11)


def test_two_groups_and_relabel():
    labels = torch.arange(10)
    assert lesson.two_groups(labels, "digits").tolist() == [0, 1] * 5
    assert lesson.two_groups(labels, "fashion-mnist").tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 1, 1]
    from edu_contrast import data

    part = data.ImageTensors(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), labels, [str(c) for c in range(10)])
    pair = lesson.relabel(part, (6, 0))
    assert pair.labels.tolist() == [1, 0] and pair.classes == ["6", "0"]


def _sims(seed=0, n=16, d=8, classes=3):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    centres = torch.randn(classes, d, generator=g) * 2
    z1 = centres[labels] + torch.randn(n, d, generator=g)  # class structure: same class, higher s
    z2 = z1 + 0.3 * torch.randn(n, d, generator=g)
    return z1, z2, labels


def test_anchor_similarities_follow_nt_xent_layout():
    z1, z2, labels = _sims()
    sims = lesson.anchor_similarities(z1, z2, labels)
    n = len(labels)
    assert sims["neg"].shape == (2 * n, 2 * n - 2) and sims["pos"].shape == (2 * n,)
    # every anchor's negatives: both views of the N − 1 other samples
    same_count = (labels[:, None] == labels[None, :]).sum(1) - 1
    assert sims["same"].sum(1).tolist() == (2 * same_count).repeat(2).tolist()
    # −log(e^{p/τ} / (e^{p/τ} + Σ_k e^{s_k/τ})) averaged over the anchors is nt_xent
    p, t = sims["pos"], 0.5
    by_hand = (torch.logaddexp(p / t, torch.logsumexp(sims["neg"] / t, 1)) - p / t).mean()
    assert torch.isclose(by_hand, losses.nt_xent(z1.double(), z2.double(), temperature=t), rtol=1e-10)


def test_debiasing_removes_the_false_negatives_share_on_class_structured_embeddings():
    z1, z2, labels = _sims(n=40)
    sums = lesson.negative_sums(lesson.anchor_similarities(z1, z2, labels), 0.5, [0.0, 0.2])
    assert torch.equal(sums["estimate"][0.0], sums["raw"])  # τ⁺ = 0 is the raw sum (the clamp cannot act)
    assert lesson.log_ratio(sums["raw"], sums["true"]) > 0.1  # same-class negatives inflate the raw sum
    assert lesson.log_ratio(sums["estimate"][0.2], sums["true"]) < lesson.log_ratio(sums["raw"], sums["true"])
    assert torch.all(sums["estimate"][0.2] >= (2 * 40 - 2) * math.exp(-1 / 0.5) - 1e-12)  # the clamp
    with pytest.raises(ValueError, match="'tau_plus' parameter of negative_sums"):
        lesson.negative_sums(lesson.anchor_similarities(z1, z2, labels), 0.5, [1.0])


def test_the_overcount_check_fails_when_the_labels_do_not_follow_the_embeddings():
    """Notebook 13's check `bias[0.0] > 0.05`: with shuffled labels the "false" negatives are a random subset,
    so the raw sum is an unbiased sample of the true one and the check fails."""
    z1, z2, labels = _sims(n=64)
    shuffled = labels[torch.randperm(64, generator=torch.Generator().manual_seed(0))]
    sums = lesson.negative_sums(lesson.anchor_similarities(z1, z2, shuffled), 0.5, [0.0])
    assert not lesson.log_ratio(sums["raw"], sums["true"]) > 0.05


def test_hard_weights_move_towards_false_negatives_only_when_similarity_follows_the_class():
    z1, z2, labels = _sims(n=48)
    sims = lesson.anchor_similarities(z1, z2, labels)
    uniform = lesson.same_class_share(lesson.negative_weights(sims, 0.5, 0.0), sims["same"])
    hard = lesson.same_class_share(lesson.negative_weights(sims, 0.5, 2.0), sims["same"])
    assert uniform == pytest.approx(sims["same"].double().mean().item(), abs=1e-9)  # β = 0: uniform
    assert hard > uniform + 0.2
    # broken input: embeddings that ignore the class, so hardness says nothing about the class
    g = torch.Generator().manual_seed(1)
    flat = lesson.anchor_similarities(
        torch.randn(48, 8, generator=g), torch.randn(48, 8, generator=g), labels
    )
    flat_uniform = lesson.same_class_share(lesson.negative_weights(flat, 0.5, 0.0), flat["same"])
    flat_hard = lesson.same_class_share(lesson.negative_weights(flat, 0.5, 2.0), flat["same"])
    assert abs(flat_hard - flat_uniform) < 0.1


def test_hard_nt_xent_is_the_weighted_negative_sum():
    """The weights of negative_weights put into N_g give losses.hard_nt_xent."""
    z1, z2, labels = _sims(n=10)
    sims, t, beta, tau_plus = lesson.anchor_similarities(z1, z2, labels), 0.5, 1.0, 0.1
    m = sims["neg"].shape[1]
    weighted = m * (lesson.negative_weights(sims, t, beta) * torch.exp(sims["neg"] / t)).sum(1)  # (2N,)
    ng = ((weighted - tau_plus * m * torch.exp(sims["pos"] / t)) / (1 - tau_plus)).clamp(
        min=m * math.exp(-1 / t)
    )
    by_hand = (torch.log(torch.exp(sims["pos"] / t) + ng) - sims["pos"] / t).mean()
    package = losses.hard_nt_xent(z1.double(), z2.double(), temperature=t, tau_plus=tau_plus, beta=beta)
    assert torch.isclose(by_hand, package, rtol=1e-9)


def test_spectral_minimiser_spans_the_top_eigenvectors_and_reaches_minus_sum_of_squares():
    a, component = lesson.augmentation_graph((5, 4, 6), seed=3)
    values, _ = lesson.top_eigenvectors(a, 4)
    assert torch.allclose(values[:3], torch.ones(3, dtype=torch.float64)) and values[3] < 0.99
    f = lesson.spectral_minimiser(a, 3)
    assert lesson.span_distance(f, a, 3) < 1e-5
    loss = lesson.population_spectral_loss(f, a)
    assert float(loss) == pytest.approx(-float((values[:3] ** 2).sum()), abs=1e-9)  # HaoChen: −Σ_{j≤k} λ_j²
    # broken input: an f that did not minimise the loss is far from the eigenvector span
    assert lesson.span_distance(torch.randn(15, 3, dtype=torch.float64), a, 3) > 0.3


def test_bridges_join_the_components():
    a, _ = lesson.augmentation_graph((5, 5), bridge=0.2)
    values, _ = lesson.top_eigenvectors(a, 2)
    assert values[1] < 0.99  # one component: the second eigenvalue leaves 1


def test_population_loss_is_the_expectation_of_the_package_loss():
    """Positive pairs drawn with probability w_xx', negatives from the marginal: the mean of
    losses.spectral_contrastive over many batches approaches population_spectral_loss."""
    a, _ = lesson.augmentation_graph((3, 3), seed=0)
    f = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pairs = torch.multinomial((a / a.sum()).flatten(), 200 * 64, replacement=True,
                              generator=torch.Generator().manual_seed(1))  # fmt: skip
    x, x_plus = pairs // 6, pairs % 6
    batches = [
        losses.spectral_contrastive(f[x[i : i + 64]], f[x_plus[i : i + 64]]) for i in range(0, len(x), 64)
    ]
    sampled = torch.stack(batches).mean()
    assert float(sampled) == pytest.approx(float(lesson.population_spectral_loss(f, a)), abs=0.05)


def test_a_linear_probe_is_perfect_exactly_when_components_are_the_classes():
    a, component = lesson.augmentation_graph((6, 5, 4), seed=0)
    f = lesson.spectral_minimiser(a, 3)
    assert lesson.graph_probe(f, component) == 1.0
    across = torch.arange(len(component)) % 2  # classes that cut across the components
    assert lesson.graph_probe(f, across) < 0.8


def test_scale_and_methods():
    assert lesson.scale("quick")["seeds"] == (0, 1, 2)
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        lesson.scale("huge")
    method = lesson.build_method("hard (β = 1, τ⁺ = 0.1)", channels=1, width=4, temperature=0.5)
    assert (method.tau_plus, method.beta) == (0.1, 1.0)
