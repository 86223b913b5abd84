"""Probes: separable data, scikit-learn as the linear probe's oracle, a brute-force Wu et al. 2018 kNN
oracle, untouched features, bad inputs."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edu_contrast import models, probes


def _blobs(n_per_class=30, n_classes=3, dim=5, spread=0.3, seed=0, dtype=torch.float64):
    """Gaussian blobs around far-apart centres: linearly separable with a wide margin."""
    g = torch.Generator().manual_seed(seed)
    centres = 10 * torch.eye(n_classes, dim, dtype=dtype)  # (C, d)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)  # (C·n,)
    x = centres[labels] + spread * torch.randn(len(labels), dim, generator=g, dtype=dtype)  # (C·n, d)
    return x, labels


def _knn_loop(train_x, train_y, test_x, k, temperature):
    """Wu et al. 2018, Sec. 3.4, one test row at a time: top-k cosine neighbours vote exp(s/τ)."""
    train = [row / np.linalg.norm(row) for row in np.asarray(train_x, dtype=np.float64)]
    predictions = []
    for row in np.asarray(test_x, dtype=np.float64):
        query = row / np.linalg.norm(row)
        sims = [float(query @ t) for t in train]
        nearest = sorted(range(len(train)), key=lambda i: -sims[i])[:k]
        votes = {}
        for i in nearest:
            votes[int(train_y[i])] = votes.get(int(train_y[i]), 0.0) + math.exp(sims[i] / temperature)
        best = max(votes.values())
        predictions.append(min(c for c, v in votes.items() if v == best))  # ties: the smallest label
    return predictions


# ---------------------------------------------------------------- linear probe


def test_linear_probe_separable_data_scores_one():
    train_x, train_y = _blobs(seed=0)
    test_x, test_y = _blobs(seed=1)
    assert probes.linear_probe(train_x, train_y, test_x, test_y) == 1.0


def test_linear_probe_chance_on_random_labels_is_below_one():
    # The probe must be able to fail: random labels on random features cannot be predicted.
    g = torch.Generator().manual_seed(2)
    train_x, test_x = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g)
    train_y, test_y = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (200,), generator=g)
    assert probes.linear_probe(train_x, train_y, test_x, test_y) < 0.45


def test_linear_probe_standardises_with_training_statistics():
    # One informative feature on a tiny scale next to a huge noise feature: without standardisation
    # the L2 penalty (C = 1) would drown the informative one.
    g = torch.Generator().manual_seed(3)
    y = torch.arange(2).repeat(100)  # (200,)
    x = torch.stack(
        [1e-4 * (2 * y - 1) + 1e-6 * torch.randn(200, generator=g), 1e3 * torch.randn(200, generator=g)], 1
    )
    probe = probes.LinearProbe().fit(x, y)
    np.testing.assert_allclose(probe.mean_.numpy(), x.double().mean(0).numpy(), rtol=1e-10)
    np.testing.assert_allclose(
        probe.scale_.double().numpy(), x.double().std(0, unbiased=False).numpy(), rtol=1e-5
    )
    assert probe.score(x, y) == 1.0


def test_linear_probe_accepts_numpy_and_keeps_original_labels():
    train_x, train_y = _blobs(seed=4)
    test_x, test_y = _blobs(seed=5)
    labels = torch.tensor([3, 7, 11])
    probe = probes.LinearProbe().fit(train_x.numpy(), labels[train_y].numpy())
    predicted = probe.predict(test_x.numpy())
    assert predicted.dtype == torch.int64 and predicted.shape == (len(test_y),)
    assert torch.equal(predicted, labels[test_y])
    assert probe.score(test_x, labels[test_y]) == 1.0


def test_linear_probe_is_deterministic():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(120, 6, generator=g), torch.randint(0, 3, (120,), generator=g)
    first, second = probes.LinearProbe().fit(x, y), probes.LinearProbe().fit(x, y)
    assert torch.equal(first.predict(x), second.predict(x))
    assert torch.equal(first.coef_, second.coef_) and torch.equal(first.intercept_, second.intercept_)


# ---------------------------------------------------------------- linear probe against scikit-learn


def _objective(W, b, standardised, target, C=1.0):
    """(value, max |gradient|) of (1/N) Σ CE(W x̃ + b, y) + ‖W‖²/(2CN), in float64 (scikit-learn's C)."""
    W = torch.as_tensor(W, dtype=torch.float64).clone().requires_grad_()
    b = torch.as_tensor(b, dtype=torch.float64).clone().requires_grad_()
    loss = F.cross_entropy(standardised @ W.T + b, target) + W.square().sum() / (2 * C * len(target))
    loss.backward()
    return loss.item(), torch.cat([W.grad.flatten(), b.grad]).abs().max().item()


def _sklearn(train_x, train_y, *, C=1.0, tol=1e-4):
    """scikit-learn's StandardScaler + LogisticRegression (lbfgs, run to convergence) on float64 copies."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.asarray(train_x, dtype=np.float64))
    standardised = scaler.transform(np.asarray(train_x, dtype=np.float64))
    return scaler, LogisticRegression(C=C, tol=tol, max_iter=100_000).fit(standardised, np.asarray(train_y))


def _digits_pixels():
    """scikit-learn's digits, raw 64 pixels (constant border pixels included), half train, half test."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = torch.from_numpy(digits.data).float(), torch.from_numpy(digits.target)  # (1797, 64), (1797,)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return x[order[:900]], y[order[:900]], x[order[900:]], y[order[900:]]


def _gaussian_mixture():
    """10 overlapping Gaussian classes in 20-d, 3000 train / 2000 test points (accuracy well below 1)."""
    g = torch.Generator().manual_seed(1)
    centres = 0.6 * torch.randn(10, 20, generator=g)  # (10, 20)
    y = torch.arange(10).repeat(500)  # (5000,)
    x = centres[y] + torch.randn(5000, 20, generator=g)  # (5000, 20)
    return x[:3000], y[:3000], x[3000:], y[3000:]


def _random_convnet_features():
    """h of an untrained SmallConvNet (64 features) on the digits images: correlated, unscaled features."""
    from sklearn.datasets import load_digits

    torch.manual_seed(0)
    net = models.SmallConvNet(in_channels=1, feature_dim=64, width=8).eval()
    digits = load_digits()
    with torch.no_grad():
        h = net(torch.from_numpy(digits.images).float()[:, None] / 16)  # (1797, 1, 8, 8) → (1797, 64)
    y = torch.from_numpy(digits.target)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return h[order[:900]], y[order[:900]], h[order[900:]], y[order[900:]]


PROBLEMS = {"digits": _digits_pixels, "mixture": _gaussian_mixture, "convnet": _random_convnet_features}


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_linear_probe_matches_scikit_learn(problem):
    train_x, train_y, test_x, test_y = PROBLEMS[problem]()
    scaler, reference = _sklearn(train_x, train_y)
    expected = reference.score(scaler.transform(test_x.double().numpy()), test_y.numpy())
    probe = probes.LinearProbe().fit(train_x, train_y)
    assert probe.converged_ and probe.n_iter_ < probe.max_iter
    assert abs(probe.score(test_x, test_y) - expected) <= 0.003  # within 0.3 points of scikit-learn
    # The same objective, as close to its minimum as scikit-learn's lbfgs gets (tol = 1e-4 both).
    standardised = torch.from_numpy(scaler.transform(train_x.double().numpy()))
    value, gradient = _objective(probe.coef_, probe.intercept_, standardised, train_y)
    reference_value, _ = _objective(reference.coef_, reference.intercept_, standardised, train_y)
    assert gradient < 1e-3
    assert value <= reference_value * (1 + 1e-3)


def test_linear_probe_reaches_the_minimiser_of_scikit_learns_objective():
    # float64 features and a tight tol: W and b (up to a shift common to all classes, which the loss does
    # not see) are scikit-learn's, for a C other than 1 as well, so C means the same: Σ CE + ½‖W‖²/C.
    train_x, train_y, _, _ = _digits_pixels()
    train_x = train_x.double()
    scaler, reference = _sklearn(train_x, train_y, C=0.5, tol=1e-10)
    probe = probes.LinearProbe(C=0.5, tol=1e-8).fit(train_x, train_y)
    standardised = torch.from_numpy(scaler.transform(train_x.numpy()))
    _, gradient = _objective(probe.coef_, probe.intercept_, standardised, train_y, C=0.5)
    assert gradient < 1e-7
    np.testing.assert_allclose(probe.coef_.numpy(), reference.coef_, atol=1e-4)
    centred = probe.intercept_ - probe.intercept_.mean()
    np.testing.assert_allclose(centred.numpy(), reference.intercept_ - reference.intercept_.mean(), atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_linear_probe_takes_every_float_dtype(dtype):
    train_x, train_y = _blobs(seed=16, dtype=dtype)
    test_x, test_y = _blobs(seed=17, dtype=dtype)
    probe = probes.LinearProbe().fit(train_x, train_y)
    assert probe.coef_.dtype == torch.float64 and probe.converged_
    assert probe.score(test_x, test_y) == 1.0


def test_linear_probe_warns_when_it_stops_at_max_iter():
    train_x, train_y, _, _ = _gaussian_mixture()
    with pytest.warns(RuntimeWarning, match="after max_iter=2 iterations; raise max_iter"):
        probe = probes.LinearProbe(max_iter=2).fit(train_x, train_y)
    assert not probe.converged_ and probe.n_iter_ == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_linear_probe_fits_on_the_features_device():
    train_x, train_y, test_x, test_y = _gaussian_mixture()
    on_gpu = probes.LinearProbe().fit(train_x.cuda(), train_y.cuda())
    assert on_gpu.coef_.is_cuda and on_gpu.predict(test_x).device.type == "cpu"
    cpu_accuracy = probes.LinearProbe().fit(train_x, train_y).score(test_x, test_y)
    assert abs(on_gpu.score(test_x.cuda(), test_y) - cpu_accuracy) <= 0.003


def test_importing_probes_does_not_import_scikit_learn():
    code = "import sys, edu_contrast.probes; sys.exit('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---------------------------------------------------------------- kNN probe


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (5, 0.07), (7, 0.5), (40, 1.0)])
def test_knn_equals_brute_force_loop(k, temperature):
    g = torch.Generator().manual_seed(7)
    train_x, train_y = (
        torch.randn(60, 6, generator=g, dtype=torch.float64),
        torch.randint(0, 4, (60,), generator=g),
    )
    test_x = torch.randn(25, 6, generator=g, dtype=torch.float64)
    expected = _knn_loop(train_x, train_y, test_x, k, temperature)
    probe = probes.KNNProbe(k=k, temperature=temperature, batch_size=4).fit(train_x, train_y)
    assert probe.predict(test_x).tolist() == expected
    test_y = torch.randint(0, 4, (25,), generator=g)
    accuracy = np.mean(np.array(expected) == test_y.numpy())
    assert probes.knn_probe(train_x, train_y, test_x, test_y, k=k, temperature=temperature) == pytest.approx(
        accuracy
    )


def test_knn_batch_size_does_not_change_predictions():
    g = torch.Generator().manual_seed(8)
    train_x, train_y = torch.randn(80, 5, generator=g), torch.randint(0, 3, (80,), generator=g)
    test_x = torch.randn(33, 5, generator=g)
    full = probes.KNNProbe(k=9, batch_size=33).fit(train_x, train_y).predict(test_x)
    for batch_size in (1, 5, 32):
        assert torch.equal(
            probes.KNNProbe(k=9, batch_size=batch_size).fit(train_x, train_y).predict(test_x), full
        )


def test_knn_weights_matter():
    # k = 3: one very close neighbour of class 0 against two far ones of class 1. A majority vote says
    # 1; exp(s/τ) at small τ says 0; at large τ the weights flatten and the majority wins again.
    train_x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.05, 1.0]])
    train_y = torch.tensor([0, 1, 1])
    query = torch.tensor([[1.0, 0.9]])  # cos to class 0 ≈ 0.74, to class 1 ≈ 0.67 and 0.70
    assert probes.KNNProbe(k=3, temperature=0.01).fit(train_x, train_y).predict(query).item() == 0
    assert probes.KNNProbe(k=3, temperature=10.0).fit(train_x, train_y).predict(query).item() == 1


def test_knn_separable_data_scores_one_and_is_scale_invariant():
    train_x, train_y = _blobs(seed=9)
    test_x, test_y = _blobs(seed=10)
    assert probes.knn_probe(train_x, train_y, test_x, test_y, k=5) == 1.0
    assert probes.knn_probe(100 * train_x, train_y, 0.01 * test_x, test_y, k=5) == 1.0  # cosine only


def test_knn_low_precision_features_stay_finite_at_small_temperature():
    train_x, train_y = _blobs(seed=11, dtype=torch.float16)
    test_x, test_y = _blobs(seed=12, dtype=torch.bfloat16)
    assert probes.knn_probe(train_x, train_y, test_x, test_y, k=20, temperature=0.001) == 1.0


# ---------------------------------------------------------------- features not modified


@pytest.mark.parametrize("as_numpy", [False, True])
def test_probes_do_not_modify_the_callers_features(as_numpy):
    train_x, train_y = _blobs(seed=13, dtype=torch.float32)
    test_x, test_y = _blobs(seed=14, dtype=torch.float32)
    if as_numpy:
        train_x, train_y, test_x, test_y = (a.numpy() for a in (train_x, train_y, test_x, test_y))
    copies = [a.copy() if as_numpy else a.clone() for a in (train_x, train_y, test_x, test_y)]
    probes.linear_probe(train_x, train_y, test_x, test_y)
    probes.knn_probe(train_x, train_y, test_x, test_y, k=3)
    for original, copy in zip((train_x, train_y, test_x, test_y), copies):
        if as_numpy:
            np.testing.assert_array_equal(original, copy)
        else:
            assert torch.equal(original, copy)


# ---------------------------------------------------------------- bad inputs


def _data():
    g = torch.Generator().manual_seed(15)
    return torch.randn(10, 3, generator=g), torch.randint(0, 2, (10,), generator=g)


@pytest.mark.parametrize("probe", ["linear_probe", "knn_probe"])
@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda a: {**a, "train_x": a["train_x"][0]}, ValueError, "'train_x' parameter of {fn}.*2-D"),
        (lambda a: {**a, "test_x": a["test_x"][:, :2]}, ValueError, "'test_x' parameter of {fn}.*3 features"),
        (lambda a: {**a, "train_y": a["train_y"][:9]}, ValueError, "'train_y' parameter of {fn}.*10 labels"),
        (lambda a: {**a, "test_y": a["test_y"][:, None]}, ValueError, "'test_y' parameter of {fn}"),
        (lambda a: {**a, "train_y": a["train_y"].float()}, TypeError, "'train_y' parameter of {fn}.*integer"),
        (
            lambda a: {**a, "test_x": torch.full((10, 3), float("nan"))},
            ValueError,
            "'test_x' parameter of {fn}.*finite",
        ),
        (lambda a: {**a, "train_x": [[1.0, 2.0, 3.0]]}, TypeError, "'train_x' parameter of {fn}"),
    ],
)
def test_bad_inputs_name_the_parameter_and_function(probe, change, error, match):
    x, y = _data()
    arguments = change({"train_x": x, "train_y": y, "test_x": x, "test_y": y})
    with pytest.raises(error, match=match.format(fn=probe)):
        getattr(probes, probe)(**arguments)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 0}, ValueError, "'k' parameter of knn_probe must be an int >= 1"),
        ({"k": 2.5}, TypeError, "'k' parameter of knn_probe"),
        ({"k": 11}, ValueError, "'k' parameter of knn_probe.*<= the number of training samples"),
        ({"temperature": 0.0}, ValueError, "'temperature' parameter of knn_probe must be > 0"),
        ({"temperature": -1}, ValueError, "'temperature' parameter of knn_probe"),
    ],
)
def test_knn_probe_bad_hyperparameters(kwargs, error, match):
    x, y = _data()
    with pytest.raises(error, match=match):
        probes.knn_probe(x, y, x, y, **kwargs)


def test_class_api_errors():
    x, y = _data()
    with pytest.raises(RuntimeError, match="not fitted"):
        probes.KNNProbe().predict(x)
    with pytest.raises(RuntimeError, match="not fitted"):
        probes.LinearProbe().score(x, y)
    with pytest.raises(ValueError, match="'tol' parameter of LinearProbe must be > 0"):
        probes.LinearProbe(tol=0)
    with pytest.raises(ValueError, match="'C' parameter of LinearProbe must be > 0"):
        probes.LinearProbe(C=-1.0)
    with pytest.raises(TypeError, match="'max_iter' parameter of LinearProbe"):
        probes.LinearProbe(max_iter=1.5)
    with pytest.raises(ValueError, match="'y' parameter of LinearProbe.fit.*2 classes"):
        probes.LinearProbe().fit(x, torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="'x' parameter of KNNProbe.predict.*3 features"):
        probes.KNNProbe(k=3).fit(x, y).predict(torch.randn(4, 5))
    with pytest.raises(ValueError, match="'batch_size' parameter of KNNProbe"):
        probes.KNNProbe(batch_size=0)
    with pytest.raises(ValueError, match="'k' parameter of KNNProbe"):
        probes.KNNProbe(k=11).fit(x, y)


# ---------------------------------------------------------------- few-label probe


def test_few_label_probe_uses_per_class_labels_and_averages_draws(monkeypatch):
    seen = []

    def fake_probe(train_x, train_y, test_x, test_y):
        seen.append(torch.bincount(train_y, minlength=3).tolist())
        return 0.25 * len(seen)

    monkeypatch.setattr(probes, "linear_probe", fake_probe)
    y = torch.arange(60) % 3
    got = probes.few_label_probe(
        torch.randn(60, 4), y, torch.randn(9, 4), torch.arange(9) % 3, per_class=4, draws=3
    )
    assert seen == [[4, 4, 4]] * 3  # each draw: exactly 4 labelled samples per class
    assert got == pytest.approx((0.25 + 0.5 + 0.75) / 3)


def test_few_label_probe_draws_are_seeded_and_differ(monkeypatch):
    chosen = []
    x, y = torch.randn(90, 4, generator=torch.Generator().manual_seed(0)), torch.arange(90) % 3

    def remember(train_x, train_y, test_x, test_y):
        chosen.append(train_x.sum().item())  # which samples were labelled
        return 0.0

    monkeypatch.setattr(probes, "linear_probe", remember)
    probes.few_label_probe(x, y, x, y, per_class=2, draws=2, seed=1)
    probes.few_label_probe(x, y, x, y, per_class=2, draws=2, seed=1)
    assert chosen[:2] == chosen[2:] and chosen[0] != chosen[1]


def test_few_label_probe_separates_good_from_useless_features():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    good = torch.nn.functional.one_hot(y, 3).float() + 0.2 * torch.randn(300, 3, generator=g)  # (300, 3)
    useless = torch.randn(300, 3, generator=g)
    assert probes.few_label_probe(good[:200], y[:200], good[200:], y[200:], per_class=5) > 0.9
    assert probes.few_label_probe(useless[:200], y[:200], useless[200:], y[200:], per_class=5) < 0.55


def test_few_label_probe_bad_inputs():
    x, y = torch.randn(10, 2), torch.arange(10) % 2
    with pytest.raises(ValueError, match="'per_class' parameter of few_label_probe must be an int >= 1"):
        probes.few_label_probe(x, y, x, y, per_class=0)
    with pytest.raises(ValueError, match="'train_y' parameter of few_label_probe"):
        probes.few_label_probe(x, y[:5], x, y)
