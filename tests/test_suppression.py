"""Feature-suppression runners: the bit probe, the supervised baseline, the runs and their cache."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import data, suppression
from edu_contrast.suppression import (
    TwoDigitClassifier,
    bit_probe_accuracy,
    bit_targets,
    cached,
    multidigits_run,
    randbit_run,
    two_digit_labels,
)

TINY = {"epochs": 1, "width": 4, "batch_size": 64, "lr": 1e-3}


def test_bit_targets_closed_form():
    got = bit_targets(torch.tensor([0, 1, 2, 5, 7]), 3)
    assert got.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1]]  # least significant first


def test_bit_targets_match_randbit_planes():
    base = data.load_dataset("digits", "test")
    randbit = data.RandBit(base, 5, generator=torch.Generator().manual_seed(0))
    planes = randbit.images[:, 1:, 0, 0].long() // 255  # (N, 5): the constant planes, read at one pixel
    assert torch.equal(bit_targets(randbit.bit_labels, 5), planes)


def test_bit_probe_reads_bits_that_are_in_the_features_and_not_others():
    g = torch.Generator().manual_seed(0)
    u_train, u_test = torch.randint(0, 16, (300,), generator=g), torch.randint(0, 16, (100,), generator=g)
    noise = lambda n: 0.1 * torch.randn(n, 6, generator=g)  # noqa: E731
    # features = the 4 bits (±1) plus 2 noise dimensions: every bit is linearly readable
    encode = lambda u: torch.cat([2.0 * bit_targets(u, 4) - 1, torch.zeros(len(u), 2)], dim=1)  # noqa: E731
    h_train, h_test = encode(u_train) + noise(300), encode(u_test) + noise(100)
    assert bit_probe_accuracy(h_train, u_train, h_test, u_test, 4) == 1.0
    # only bits 0 and 1 encoded: bits 2 and 3 are at chance, so the mean is ≈ (1 + 1 + ½ + ½)/4
    h_train[:, 2:4], h_test[:, 2:4] = noise(300)[:, :2], noise(100)[:, :2]
    assert 0.6 < bit_probe_accuracy(h_train, u_train, h_test, u_test, 4) < 0.9


def test_bit_probe_counts_a_constant_bit_as_chance():
    u = torch.tensor([0, 1] * 20)  # bit 1 is always 0
    h = 2.0 * bit_targets(u, 2).float() - 1
    assert bit_probe_accuracy(h, u, h, u, 2) == pytest.approx(0.75)


class _Flat(nn.Module):
    feature_dim = 4

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))

    def forward(self, x):
        return self.net(x)


def test_two_digit_classifier_loss_is_the_mean_cross_entropy_of_both_heads():
    torch.manual_seed(0)
    model = TwoDigitClassifier(_Flat(), num_classes=3)
    x1, x2 = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    large, small = torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 0, 1, 0])
    loss = model.loss(x1, x2, 3 * large + small)
    logits = model.project(torch.cat([x1, x2]))  # (10, 6)
    expected = 0.5 * (
        F.cross_entropy(logits[:, :3], large.repeat(2)) + F.cross_entropy(logits[:, 3:], small.repeat(2))
    )
    assert torch.allclose(loss, expected)
    loss.backward()
    assert model.encoder.net[1].weight.grad is not None
    with pytest.raises(ValueError, match="'labels' parameter of TwoDigitClassifier.loss"):
        model.loss(x1, x2)


def test_two_digit_labels_round_trip():
    base = data.load_dataset("digits", "test")
    multi = data.MultiDigits(base, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    labelled = two_digit_labels(multi)
    assert torch.equal(labelled.labels // 10, multi.labels_large) and torch.equal(
        labelled.labels % 10, multi.labels_small
    )
    assert len(labelled.classes) == 100 and labelled.images is multi.images
    with pytest.raises(TypeError, match="'dataset' parameter of two_digit_labels"):
        two_digit_labels(base)


def test_randbit_run_returns_probes_and_coordinates():
    run = randbit_run(3, settings=TINY, max_train=200)
    assert set(run) == {
        "bits",
        "temperature",
        "content_accuracy",
        "bit_accuracy",
        "effective_rank",
        "seconds",
        "coords",
        "labels",
        "values",
    }
    assert 0 <= run["content_accuracy"] <= 1 and 0 <= run["bit_accuracy"] <= 1
    assert len(run["coords"]) == len(run["labels"]) == len(run["values"]) == 360
    assert max(run["values"]) < 8
    json.dumps(run)  # cacheable
    assert randbit_run(0, settings=TINY, max_train=200)["bit_accuracy"] is None


def test_random_multidigits_probe_is_the_untrained_floor():
    run = multidigits_run(8, method="random", small_size=4, canvas=12, settings=TINY, max_train=300)
    assert run["seconds"] == 0.0 and run["method"] == "random"
    assert 0.05 < run["small_accuracy"] < 0.9 and 0.05 < run["large_accuracy"] <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"large_size": 8, "method": "byol"}, "'method' parameter of multidigits_run"),
        ({"large_size": 3, "small_size": 4}, "'large_size' parameter of multidigits_run must be an int >= 4"),
        (
            {"large_size": 8, "small_size": 4, "canvas": 10},
            "'canvas' parameter of multidigits_run must be an int >= 12",
        ),
    ],
)
def test_multidigits_run_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        multidigits_run(**kwargs)


def test_randbit_run_bad_arguments():
    with pytest.raises(ValueError, match="'temperature' parameter of randbit_run must be > 0"):
        randbit_run(2, temperature=0)
    with pytest.raises(ValueError, match="'epochs' parameter of settings"):
        randbit_run(2, settings={"epochs": -1})


def test_cached_computes_once_and_keys_on_the_arguments(tmp_path):
    calls = []

    def run(**kwargs):
        calls.append(kwargs)
        return {"value": kwargs["x"] * 2}

    assert cached(run, tmp_path, x=1) == {"value": 2}
    assert cached(run, tmp_path, x=1) == {"value": 2}
    assert cached(run, tmp_path, x=2) == {"value": 4}
    assert calls == [{"x": 1}, {"x": 2}]
    assert cached(run, None, x=1) == {"value": 2} and len(calls) == 3  # no cache: always computed
    broken = next(tmp_path.glob("run-*.json"))
    broken.write_text("{half a fil")  # an interrupted write is recomputed, not an error
    cached(run, tmp_path, x=1)
    cached(run, tmp_path, x=2)
    assert len(calls) == 4


@pytest.mark.slow
def test_randbit_suppresses_the_digit():
    """The notebook's claim at quick settings: 8 shared bits take the digit probe from ~0.95 to ~chance."""
    plain = randbit_run(0, settings=suppression.QUICK_SETTINGS)
    bits = randbit_run(8, settings=suppression.QUICK_SETTINGS)
    assert plain["content_accuracy"] > 0.85
    assert bits["content_accuracy"] < plain["content_accuracy"] - 0.4
    assert bits["bit_accuracy"] > 0.95
