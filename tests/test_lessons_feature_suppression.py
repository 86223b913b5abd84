"""lessons.feature_suppression (notebook 05): the bit probe, two-digit labels, the runs and their cache."""

from __future__ import annotations

import json

import pytest
import torch

from edu_contrast import data, diagnostics, measure, methods, probes
from edu_contrast.lessons import feature_suppression as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.lessons.feature_suppression import (
    bit_probe_accuracy,
    bit_targets,
    cached_run,
    multidigits_run,
    randbit_run,
    two_digit_labels,
)

TINY = {"epochs": 1, "width": 4, "batch_size": 64, "lr": 1e-3}
MARGIN_05 = 0.05  # notebook 05's margin for "content: random − SimCLR, same bits" (docs/check_margins.md)


def test_bit_targets_closed_form():
    got = bit_targets(torch.tensor([0, 1, 2, 5, 7]), 3)
    assert got.tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 1], [1, 1, 1]]  # least significant first


def test_bit_targets_match_randbit_planes():
    base = data.load_dataset("digits", "test")
    randbit = data.RandBit(base, 5, generator=torch.Generator().manual_seed(0))
    planes = randbit.images[:, 1:, 0, 0].long() // 255  # (N, 5): the constant planes, read at one pixel
    assert torch.equal(bit_targets(randbit.bit_labels, 5), planes)


def test_randbit_channels_are_the_images_data_randbit_stores():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 4, 5), generator=g, dtype=torch.uint8)  # (N, C, H, W)
    base = data.ImageTensors(images, torch.zeros(40, dtype=torch.long), ["x"])
    randbit = data.RandBit(base, 5, generator=torch.Generator().manual_seed(1))
    built = lesson.randbit_channels(images, randbit.bit_labels, 5)
    assert built.dtype == torch.uint8 and torch.equal(built, randbit.images)
    one = lesson.randbit_channels(images[:1], torch.tensor([6]), 3)  # u = 6 = 0b110: planes 0, 255, 255
    assert one[0, 3:].flatten(1).unique(dim=1).flatten().tolist() == [0, 255, 255]


def test_randbit_channels_bad_arguments():
    images = torch.zeros(2, 1, 3, 3, dtype=torch.uint8)
    with pytest.raises(TypeError, match="'images'.*uint8 tensor of shape"):
        lesson.randbit_channels(images.float(), torch.tensor([1, 2]), 2)
    with pytest.raises(ValueError, match="'values'.*one integer u per image"):
        lesson.randbit_channels(images, torch.tensor([1, 2, 3]), 2)
    with pytest.raises(ValueError, match="'bits'"):
        lesson.randbit_channels(images, torch.tensor([1, 2]), 0)


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


def test_randbit_probes_are_the_probes_of_the_trained_features():
    train_set, test_set = lesson.randbit_data(3, max_train=200)
    assert not torch.equal(train_set.bit_labels[:50], test_set.bit_labels[:50])  # test images: their own u
    method, seconds = lesson.train_simclr(train_set, test_set, temperature=0.5, settings=TINY)
    got = lesson.randbit_probes(method, train_set, test_set, 3)
    h_train, h_test = measure.embed(method, train_set.images), measure.embed(method, test_set.images)
    assert got["content_accuracy"] == probes.linear_probe(h_train, train_set.labels, h_test, test_set.labels)
    assert got["bit_accuracy"] == bit_probe_accuracy(
        h_train, train_set.bit_labels, h_test, test_set.bit_labels, 3
    )
    assert got["bit_accuracy"] > 0.8  # constant planes shared by both views: linearly readable (chance 0.5)
    assert got["erank_h"] == pytest.approx(diagnostics.effective_rank(h_test))
    coords, centred = torch.tensor(got["coords"]), h_test.double() - h_test.double().mean(0)
    pc = torch.linalg.svd(centred, full_matrices=False).Vh[:2]  # (2, d) the top two principal directions
    torch.testing.assert_close(coords.double().abs(), (centred @ pc.T).abs(), atol=1e-4, rtol=1e-4)
    assert coords[:, 0].var() >= coords[:, 1].var()  # PC 1 carries the most variance
    assert got["labels"] == test_set.labels.tolist() and got["values"] == test_set.bit_labels.tolist()


def test_randbit_run_is_data_then_training_then_probes():
    run = randbit_run(3, settings=TINY, max_train=200)
    assert set(run) == {"bits", "temperature", "method", "seconds", "content_accuracy", "bit_accuracy",
                        "erank_h", "coords", "labels", "values"}  # fmt: skip
    train_set, test_set = lesson.randbit_data(3, max_train=200)
    method, _ = lesson.train_simclr(train_set, test_set, temperature=0.5, settings=TINY)
    again = lesson.randbit_probes(method, train_set, test_set, 3)
    assert (
        run["content_accuracy"] == again["content_accuracy"] and run["bit_accuracy"] == again["bit_accuracy"]
    )
    assert len(run["coords"]) == len(run["values"]) == 360 and max(run["values"]) < 8
    json.dumps(run)  # cacheable
    plain = randbit_run(0, settings=TINY, max_train=200)
    assert plain["bit_accuracy"] is None and set(plain["values"]) == {0}


def test_random_randbit_run_is_the_calibrated_untrained_encoder():
    run = randbit_run(2, method="random", settings=TINY, max_train=200, max_test=100)
    assert run["seconds"] == 0.0 and run["method"] == "random" and len(run["values"]) == 100
    train_set, test_set = lesson.randbit_data(2, max_train=200, max_test=100)
    torch.manual_seed(0)
    model = methods.build_method("simclr", in_channels=train_set.channels, width=TINY["width"])
    measure.calibrate_batchnorm(model, train_set.images)
    again = lesson.randbit_probes(model, train_set, test_set, 2)
    assert run["content_accuracy"] == again["content_accuracy"] and run["erank_h"] == again["erank_h"]
    torch.manual_seed(0)
    uncalibrated = methods.build_method("simclr", in_channels=train_set.channels, width=TINY["width"])
    assert lesson.randbit_probes(uncalibrated, train_set, test_set, 2)["erank_h"] != run["erank_h"]
    with pytest.raises(ValueError, match="'method' parameter of randbit_run must be one of"):
        randbit_run(2, method="byol")


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


def test_cached_run_computes_once_and_keys_on_the_arguments(tmp_path):
    calls = []

    def run(**kwargs):
        calls.append(kwargs)
        return {"value": kwargs["x"] * 2}

    clear_cache()
    assert cached_run(run, tmp_path, x=1) == {"value": 2}
    assert cached_run(run, tmp_path, x=1) == {"value": 2}
    assert cached_run(run, tmp_path, x=2) == {"value": 4}
    assert calls == [{"x": 1}, {"x": 2}]
    clear_cache()  # a new session reads the files back
    assert cached_run(run, tmp_path, x=1) == {"value": 2} and len(calls) == 2
    assert cached_run(run, None, x=3) == {"value": 6} and cached_run(run, None, x=3) == {"value": 6}
    assert len(calls) == 3  # no cache_dir: kept for the session only
    clear_cache()
    broken = next(tmp_path.glob("run-*.json"))
    broken.write_text("{half a fil")  # an interrupted write is recomputed, not an error
    cached_run(run, tmp_path, x=1)
    cached_run(run, tmp_path, x=2)
    assert len(calls) == 4
    with pytest.raises(TypeError, match="'run' parameter of cached_run"):
        cached_run("randbit_run")
    clear_cache()


def test_randbit_effects_compare_simclr_with_the_random_encoder_fed_the_same_bits():
    runs = [
        {"method": "simclr", "bits": k, "temperature": 0.5, "content_accuracy": acc}
        for k, acc in ((0, 0.95), (4, 0.4), (8, 0.12))
    ]
    random_bits = {"method": "random", "bits": 8, "content_accuracy": 0.41}
    effects = lesson.randbit_effects(runs, random_bits)
    assert effects == pytest.approx({"content: random − SimCLR, same bits": 0.29})
    lesson.check_effect(effects, "content: random − SimCLR, same bits", margin=0.1)
    with pytest.raises(
        ValueError, match="'random_same_bits' parameter of randbit_effects must be the random"
    ):
        lesson.randbit_effects(runs, {**random_bits, "bits": 4})
    with pytest.raises(ValueError, match="'random_same_bits'.*Got method 'simclr'"):
        lesson.randbit_effects(runs, runs[-1])
    with pytest.raises(ValueError, match="'runs' parameter of randbit_effects must be SimCLR runs"):
        lesson.randbit_effects([], random_bits)


def test_randbit_check_fails_for_an_untrained_encoder():
    """The broken input: the "trained" encoder is the untrained one. Its bits probe is as high as a trained
    one's (the constant planes are linearly readable), so the old `bit_accuracy >= 0.95` passed; the
    content comparison with the random encoder fed the same bits is exactly 0 and fails."""
    sizes = {"settings": lesson.QUICK_SETTINGS, "max_train": 500, "max_test": 200}  # untrained: fast
    random_bits = randbit_run(6, method="random", **sizes)
    untrained = {**random_bits, "method": "simclr"}  # an "SimCLR" run that never trained
    assert untrained["bit_accuracy"] >= 0.95  # what the replaced check asserted: it cannot tell
    effects = lesson.randbit_effects([untrained], random_bits)
    assert effects["content: random − SimCLR, same bits"] == 0.0
    with pytest.raises(AssertionError, match="content: random − SimCLR, same bits = \\+0.000"):
        lesson.check_effect(effects, "content: random − SimCLR, same bits", margin=0.1)


@pytest.mark.slow
def test_randbit_suppresses_the_digit():
    """The notebook's claim at quick settings: 8 shared bits take the digit probe from ~0.95 to ~chance,
    below the untrained encoder fed the same 8 bits (notebook 05's check, with its margin)."""
    plain = randbit_run(0, settings=lesson.QUICK_SETTINGS)
    bits = randbit_run(8, settings=lesson.QUICK_SETTINGS)
    random_bits = randbit_run(8, method="random", settings=lesson.QUICK_SETTINGS)
    assert plain["content_accuracy"] > 0.85
    assert bits["content_accuracy"] < plain["content_accuracy"] - 0.4
    assert bits["bit_accuracy"] > 0.95 and random_bits["bit_accuracy"] > 0.95  # both read the bits
    effects = lesson.randbit_effects([plain, bits], random_bits)
    lesson.check_effect(effects, "content: random − SimCLR, same bits", margin=MARGIN_05)
