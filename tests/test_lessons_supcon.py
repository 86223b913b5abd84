"""lessons.supcon (notebook 07): class collapse against loop oracles and closed forms; label noise."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses, measure, probes
from edu_contrast.data import ImageTensors
from edu_contrast.lessons import supcon as G
from edu_contrast.methods import CrossEntropyBaseline


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def labelled(n=30, dim=5, classes=3, seed=0):
    return randn(n, dim, seed=seed), torch.arange(n) % classes


def _unit(row):
    norm = math.sqrt(sum(v * v for v in row))
    return [v / norm for v in row]


def oracle_means(z, labels):
    """μ_c by Python loops over the rows, classes in sorted order."""
    rows, ys = z.tolist(), labels.tolist()
    means = []
    for c in sorted(set(ys)):
        members = [_unit(r) for r, y in zip(rows, ys) if y == c]
        means.append([sum(col) / len(members) for col in zip(*members)])
    return means


def oracle_spread(z, labels):
    means = dict(zip(sorted(set(labels.tolist())), oracle_means(z, labels)))
    total = 0.0
    for row, y in zip(z.tolist(), labels.tolist()):
        total += sum((a - b) ** 2 for a, b in zip(_unit(row), means[y]))
    return total / len(labels)


def simplex_points(num_classes, per_class, dim, noise=0.0, seed=0):
    """per_class copies of each regular-simplex vertex, randomly rotated, plus optional noise."""
    q, _ = torch.linalg.qr(randn(dim, dim, seed=seed))
    vertices = G.regular_simplex(num_classes, dim) @ q  # (C, dim)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    return vertices[labels] + noise * randn(len(labels), dim, seed=seed + 1), labels


# ----------------------------------------------------------------------------- measures


@pytest.mark.parametrize("seed", [0, 1])
def test_class_means_and_spread_match_loop_oracles(seed):
    z, y = labelled(seed=seed)
    y = y[
        torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    ]  # classes interleaved at random
    assert torch.allclose(
        G.class_means(z, y), torch.tensor(oracle_means(z, y), dtype=torch.float64), atol=1e-12
    )
    assert G.within_class_spread(z, y) == pytest.approx(oracle_spread(z, y), rel=1e-10)


def test_positive_mask_closed_form():
    mask = G.positive_mask(torch.tensor([0, 1, 0, 1]))
    assert mask.tolist() == [
        [False, False, True, False],
        [False, False, False, True],
        [True, False, False, False],
        [False, True, False, False],
    ]


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_supcon_anchor_averages_to_losses_supcon(temperature):
    """The mean of ℓ_i over every anchor is losses.supcon with τ_b = τ (views flattened sample-major)."""
    g = torch.Generator().manual_seed(0)
    features = F.normalize(torch.randn(6, 2, 5, generator=g, dtype=torch.float64), dim=2)  # (N, V, d)
    labels = torch.tensor([0, 1, 0, 2, 1, 2])  # (N,)
    z, per_view = features.reshape(12, 5), labels.repeat_interleave(2)  # rows n·V + v
    mean = torch.stack([G.supcon_anchor(z, per_view, i, temperature) for i in range(12)]).mean()
    expected = losses.supcon(features, labels, temperature=temperature, base_temperature=temperature)
    torch.testing.assert_close(mean, expected)


def test_spread_closed_forms():
    z, y = simplex_points(4, 5, 6)
    assert G.within_class_spread(z, y) == pytest.approx(0.0, abs=1e-12)  # every class one point
    antipodal = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    assert G.within_class_spread(antipodal, torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)  # means at 0


def test_spread_is_one_minus_weighted_squared_mean_norms():
    z, y = labelled(n=31, classes=4, seed=3)  # unequal class sizes
    means = G.class_means(z, y)
    weights = torch.bincount(y).double() / len(y)
    assert G.within_class_spread(z, y) == pytest.approx(1 - float((weights * means.norm(dim=1) ** 2).sum()))


@pytest.mark.parametrize("num_classes, dim", [(2, 2), (3, 2), (4, 3), (10, 16)])
def test_regular_simplex_closed_form(num_classes, dim):
    v = G.regular_simplex(num_classes, dim)
    assert v.shape == (num_classes, dim)
    assert torch.allclose(v.norm(dim=1), torch.ones(num_classes, dtype=torch.float64))
    assert torch.allclose(v.sum(dim=0), torch.zeros(dim, dtype=torch.float64), atol=1e-12)
    cos = v @ v.T
    off = cos[~torch.eye(num_classes, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -1 / (num_classes - 1)))
    assert G.simplex_cosine(num_classes) == pytest.approx(-1 / (num_classes - 1))


def test_simplex_is_detected_whatever_rotation_and_noise_scale():
    z, y = simplex_points(5, 4, 8)
    cos = G.centred_mean_cosines(z, y)
    assert torch.allclose(cos.diagonal(), torch.ones(5, dtype=torch.float64))
    assert G.simplex_deviation(z, y) == pytest.approx(0.0, abs=1e-12)
    assert G.simplex_deviation(3.0 * z, y) == pytest.approx(0.0, abs=1e-12)  # rows are normalised
    noisy, _ = simplex_points(5, 4, 8, noise=0.3)
    assert 0.0 < G.simplex_deviation(noisy, y) < G.simplex_deviation(clustered_pairs(), torch.arange(20) % 5)


def clustered_pairs():
    """Class means in two tight groups (classes 0, 2, 4 near one direction, 1, 3 near another): no simplex."""
    base = randn(2, 8, seed=7)
    labels = torch.arange(20) % 5
    return base[labels % 2] + 0.05 * randn(20, 8, seed=8) + 0.2 * F.one_hot(labels, 8).double()


def test_centering_uses_the_mean_of_class_means():
    # Two classes: centred means are opposite, cosine exactly −1 whatever their position on the sphere.
    z = torch.tensor([[1.0, 0.2], [1.0, 0.1], [0.3, 1.0], [0.2, 1.0]], dtype=torch.float64)
    cos = G.centred_mean_cosines(z, torch.tensor([0, 0, 1, 1]))
    assert float(cos[0, 1]) == pytest.approx(-1.0)


def test_measures_are_invariant_to_rotation_and_row_order():
    z, y = labelled(seed=4)
    q, _ = torch.linalg.qr(randn(5, 5, seed=5))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(6))
    base = G.class_geometry(z, y)
    for other in (G.class_geometry(z @ q, y), G.class_geometry(z[order], y[order])):
        for key in base:
            assert other[key] == pytest.approx(base[key], rel=1e-10)


def test_bad_inputs_name_the_argument():
    z, y = labelled()
    with pytest.raises(ValueError, match="'labels'.*at least 2 classes"):
        G.within_class_spread(z, torch.zeros(len(y), dtype=torch.long))
    with pytest.raises(ValueError, match="'labels'"):
        G.class_means(z, y[:-1])
    with pytest.raises(TypeError, match="'labels'"):
        G.class_means(z, y.double())
    with pytest.raises(ValueError, match="'z'.*finite"):
        G.within_class_spread(torch.full_like(z, float("nan")), y)
    with pytest.raises(ValueError, match="'num_classes'"):
        G.simplex_cosine(1)
    with pytest.raises(ValueError, match="'dim'"):
        G.regular_simplex(5, 3)  # needs dim >= C − 1 = 4


# ----------------------------------------------------------------------------- free-point SupCon


@pytest.mark.parametrize("num_classes, dim", [(3, 2), (4, 3)])
def test_supcon_minimiser_is_a_regular_simplex(num_classes, dim):
    """Graf et al. 2021: with d ≥ C − 1 the free-point minimiser is collapsed classes on a regular simplex."""
    z, y = G.supcon_free_embeddings(num_classes, dim, temperature=0.5)
    assert G.within_class_spread(z, y) < 1e-3
    assert G.simplex_deviation(z, y) < 1e-2


def test_supcon_free_embeddings_start_spread_and_cannot_fit_a_simplex_in_too_few_dimensions():
    z, y = G.supcon_free_embeddings(4, 3, steps=0)
    assert G.within_class_spread(z, y) > 0.3  # random start: no collapse yet
    z, y = G.supcon_free_embeddings(6, 2, temperature=0.5)  # 6 classes on a circle: d < C − 1
    assert G.simplex_deviation(z, y) > 0.1
    assert torch.allclose(z.norm(dim=1), torch.ones(len(y), dtype=torch.float64))


@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_cross_entropy_is_info_nce_against_prototypes(temperature):
    z, w = randn(7, 5, seed=1), randn(4, 5, seed=2)
    y = torch.tensor([0, 3, 1, 2, 2, 0, 3])
    logits = F.normalize(z, dim=1) @ F.normalize(w, dim=1).T / temperature  # (N, C)
    expected = F.cross_entropy(logits, y)
    got = G.cross_entropy_as_info_nce(z, w, y, temperature=temperature)
    assert float(got) == pytest.approx(float(expected), rel=1e-12)
    z.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda q: G.cross_entropy_as_info_nce(q, w, y, temperature=temperature), (z,)
    )


def test_cross_entropy_as_info_nce_bad_inputs():
    z, w = randn(3, 5), randn(4, 5)
    with pytest.raises(ValueError, match="'labels'.*in \\[0, 4\\)"):
        G.cross_entropy_as_info_nce(z, w, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match="'prototypes'"):
        G.cross_entropy_as_info_nce(z, randn(4, 6), torch.tensor([0, 1, 2]))


# ----------------------------------------------------------------------------- label noise


def test_flip_labels_rates_and_targets():
    y = torch.arange(20_000) % 10
    assert torch.equal(G.flip_labels(y, 0.0, 10), y)
    assert bool((G.flip_labels(y, 1.0, 10) != y).all())  # every label moves to *another* class
    noisy = G.flip_labels(y, 0.3, 10, seed=1)
    assert (noisy != y).double().mean().item() == pytest.approx(0.3, abs=0.015)
    assert noisy.min() >= 0 and noisy.max() <= 9
    moved = torch.bincount(((noisy - y) % 10)[noisy != y], minlength=10)[1:]  # offsets 1..9 equally likely
    assert moved.min() > 0.8 * moved.float().mean()
    assert torch.equal(G.flip_labels(y, 0.3, 10, seed=1), noisy)  # seeded
    assert not torch.equal(G.flip_labels(y, 0.3, 10, seed=2), noisy)


def test_flip_labels_bad_inputs():
    with pytest.raises(ValueError, match="'rate'"):
        G.flip_labels(torch.arange(4), 1.5, 4)
    with pytest.raises(ValueError, match="'num_classes'"):
        G.flip_labels(torch.arange(4), 0.1, 1)


class Flat(nn.Module):
    feature_dim = 64

    def forward(self, x):
        return x.flatten(1)  # (B, 1, 8, 8) → (B, 64)


def test_with_noisy_labels_copies_and_label_noise_scores():
    g = torch.Generator().manual_seed(0)
    data = ImageTensors(
        torch.randint(0, 256, (40, 1, 8, 8), generator=g, dtype=torch.uint8),
        torch.arange(40) % 4,
        list("abcd"),
    )
    noisy = G.with_noisy_labels(data, 0.5, seed=0)
    assert noisy.images is data.images and torch.equal(
        data.labels, torch.arange(40) % 4
    )  # original untouched
    assert 0 < int((noisy.labels != data.labels).sum()) < 40
    torch.manual_seed(0)
    model = CrossEntropyBaseline(Flat(), num_classes=4, hidden_dim=8, out_dim=4)
    scores = G.label_noise_scores(model, noisy, data, k=5)
    assert set(scores) == {"knn_accuracy", "linear_accuracy", "spread"}
    h_noisy, h_clean = measure.embed(model, noisy.images), measure.embed(model, data.images)
    assert scores["knn_accuracy"] == probes.knn_probe(h_noisy, noisy.labels, h_clean, data.labels, k=5)
    assert scores["linear_accuracy"] == probes.linear_probe(h_noisy, noisy.labels, h_clean, data.labels)
    z_clean = measure.embed(model, data.images, project=True)  # (40, 4)
    assert scores["spread"] == pytest.approx(G.within_class_spread(z_clean, data.labels))
    assert scores["spread"] != pytest.approx(G.within_class_spread(z_clean, noisy.labels))  # clean labels


def test_off_diagonal_and_the_simplex_toy():
    matrix = torch.arange(9.0).reshape(3, 3)
    assert G.off_diagonal(matrix).tolist() == [1.0, 2.0, 3.0, 5.0, 6.0, 7.0]
    toy = G.simplex_toy(4, 3, 0.5)
    z, y = G.supcon_free_embeddings(4, 3, temperature=0.5)
    assert torch.equal(toy["z"], z) and torch.equal(toy["labels"], y) and toy["fits"]
    assert toy["cosines"].shape == (12,) and toy["target"] == pytest.approx(-1 / 3)
    torch.testing.assert_close(
        toy["cosines"], torch.full((12,), -1 / 3, dtype=torch.float64), atol=1e-2, rtol=0
    )
    assert toy["spread"] == G.within_class_spread(z, y) and toy["simplex_deviation"] == G.simplex_deviation(
        z, y
    )
    assert not G.simplex_toy(6, 2, 0.5, steps=20)["fits"]


def test_scale_and_load_data_per_mode():
    """Quick is the whole 8×8 digits; lab a seeded, stratified, 16×16 Fashion-MNIST subset."""
    assert G.scale("lab")["noise_rates"][-1] == 0.5 and G.scale("full")["samples_per_epoch"] == 20_000
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        G.scale("medium")
    train, test = G.load_data("quick")
    assert train.images.shape[1:] == (1, 8, 8) and (len(train), len(test)) == (1437, 360)
    lab_train, lab_test = G.load_data("lab", seed=1)
    assert lab_train.images.shape == (4000, 1, 16, 16) and lab_test.images.dtype == torch.uint8
    assert torch.bincount(lab_train.labels).tolist() == [400] * 10  # stratified
    assert not torch.equal(
        G.load_data("lab", seed=2)[0].images, lab_train.images
    )  # the seed draws the subset
