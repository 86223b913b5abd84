"""fit(): history and files, exact resume, the schedule, evaluate(), bad arguments.

Checkpoint files: tests/test_checkpoint.py; run folders, resume checks, divergence: tests/test_run_folder.py.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import pytest
import torch

from edu_contrast import augment, data, measure, probes, train
from edu_contrast.methods import build_method
from edu_contrast.train import monitor
from edu_contrast.utils import autocast

KEYS = {"epoch", "loss", "seconds", "knn_accuracy", *measure.REPORT_KEYS}  # a history entry
CPU_AMP = train.autocast_dtype("auto", torch.device("cpu"))  # what fit uses on this CPU (bf16 with AMX)

TINY = {
    "batch_size": 64,
    "samples_per_epoch": 256,
    "lr": 1e-3,
    "progress": False,
    "knn_train_size": 500,
    "knn_test_size": 200,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train"), data.load_dataset("digits", "test")


def _method(name="simclr", seed=0):
    torch.manual_seed(seed)
    return build_method(name, encoder="convnet", in_channels=1, width=4, feature_dim=32)


class Interrupted(Exception):
    pass


def _interrupt_after(epoch):
    def callback(record):
        if record["epoch"] == epoch:
            raise Interrupted

    return callback


def test_fit_writes_history_checkpoint_and_metrics(digits, tmp_path):
    train_data, test_data = digits
    result = train.fit(_method(), train_data, epochs=1, eval_data=test_data, out_dir=tmp_path, **TINY)
    history = result["history"]
    assert [h["epoch"] for h in history] == [0, 1]
    for h in history:
        assert set(h) == KEYS
        assert math.isfinite(h["loss"]) and 0 <= h["knn_accuracy"] <= 1 and h["erank_z"] >= 1
    assert (
        math.log(2 * 64 - 1) * 0.5 < history[0]["loss"] < math.log(2 * 64 - 1) * 1.5
    )  # untrained ≈ log(2N−1)
    assert 0.1 < result["linear_accuracy"] <= 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["history"] == history and metrics["linear_accuracy"] == result["linear_accuracy"]
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # only tensors and plain containers
    assert {"model", "optimizer", "scheduler", "epoch", "rng", "history", "config", "checksum"} <= set(state)
    assert set(state["rng"][0]) == {"torch", "cuda", "numpy", "python", "data"}
    assert state["epoch"] == 1 and state["config"]["batch_size"] == 64
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "name",
    ["simclr", pytest.param("moco", marks=pytest.mark.slow), pytest.param("byol", marks=pytest.mark.slow)],
)
def test_resume_after_an_interruption_gives_the_same_parameters(digits, tmp_path, name):
    train_data, test_data = digits
    straight = _method(name)
    expected = train.fit(straight, train_data, epochs=2, eval_data=test_data, out_dir=tmp_path / "a", **TINY)

    with pytest.raises(Interrupted):  # the "machine dies" right after epoch 1 was saved
        train.fit(
            _method(name),
            train_data,
            epochs=2,
            eval_data=test_data,
            out_dir=tmp_path / "b",
            callback=_interrupt_after(1),
            **TINY,
        )
    resumed = _method(name, seed=123)  # fresh weights: everything must come from the checkpoint
    result = train.fit(
        resumed, train_data, epochs=2, eval_data=test_data, out_dir=tmp_path / "b", resume=True, **TINY
    )

    for (key, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), key  # parameters and buffers (BatchNorm statistics, MoCo's queue)
    assert [h["loss"] for h in result["history"]] == [h["loss"] for h in expected["history"]]
    assert result["linear_accuracy"] == expected["linear_accuracy"]


def test_resume_without_checkpoint_starts_fresh_and_mismatch_is_refused(digits, tmp_path):
    train_data, test_data = digits
    result = train.fit(
        _method(), train_data, epochs=1, eval_data=test_data, out_dir=tmp_path, resume=True, **TINY
    )
    assert [h["epoch"] for h in result["history"]] == [0, 1]
    with pytest.raises(train.ResumeMismatchError, match=r"batch_size=64 in the checkpoint, 32 now"):
        train.fit(
            _method(),
            train_data,
            epochs=2,
            eval_data=test_data,
            out_dir=tmp_path,
            resume=True,
            **{**TINY, "batch_size": 32},
        )


def test_evaluate_reprobes_the_checkpoint(digits, tmp_path):
    train_data, test_data = digits
    result = train.fit(
        _method("byol"),
        train_data,
        epochs=1,
        eval_data=test_data,
        out_dir=tmp_path,
        config={"dataset": "digits"},
        **TINY,
    )
    again = train.evaluate(tmp_path)
    assert again["epoch"] == 1
    assert again["linear_accuracy"] == pytest.approx(result["linear_accuracy"], abs=1e-9)
    assert 0 < again["knn_accuracy"] <= 1


def test_calibrate_bn_probes_and_saves_clean_image_statistics(digits, tmp_path):
    # calibrate_bn=True: the final probe sees BatchNorm statistics of the watched clean training images
    # (what measure.calibrate_batchnorm gives the trained weights), the checkpoint keeps them, and
    # evaluate() reproduces the probe; no weight changes, and without it the running averages stay.
    import copy

    train_data, test_data = digits
    plain, calibrated = _method(), _method()
    run = {"epochs": 1, "eval_data": test_data, **TINY}
    train.fit(plain, train_data, **run)
    result = train.fit(calibrated, train_data, calibrate_bn=True, out_dir=tmp_path,
                       config={"dataset": "digits"}, **run)  # fmt: skip
    split = monitor.split_for_eval(train_data, test_data, seed=0)
    watch = monitor.monitor_subset(split, TINY["knn_train_size"], TINY["knn_test_size"], seed=0)
    expected = copy.deepcopy(plain)
    with autocast(torch.device("cpu"), CPU_AMP):  # as fit calibrates (bfloat16 on a CPU with AMX)
        measure.calibrate_batchnorm(expected, watch.train_images)
    saved = train.load_checkpoint(tmp_path)["model"]
    buffers = [k for k in saved if k.endswith(("running_mean", "running_var"))]
    assert buffers
    for key, value in expected.state_dict().items():
        assert torch.allclose(calibrated.state_dict()[key].float(), value.float(), atol=1e-5), key
        assert torch.equal(saved[key], calibrated.state_dict()[key]), key
    assert any(not torch.allclose(plain.state_dict()[k], saved[k]) for k in buffers)  # it changed them
    h = [measure.embed(expected, x.images, amp_dtype=CPU_AMP) for x in (train_data, test_data)]
    assert result["linear_accuracy"] == pytest.approx(
        probes.linear_probe(h[0], train_data.labels, h[1], test_data.labels), abs=1e-9
    )
    assert train.evaluate(tmp_path)["linear_accuracy"] == pytest.approx(result["linear_accuracy"], abs=1e-9)
    with pytest.raises(TypeError, match="'calibrate_bn' parameter of fit must be True or False"):
        train.fit(_method(), train_data, calibrate_bn="yes", **run)


def test_warmup_cosine_schedule():
    f = [train.warmup_cosine(s, total_steps=10, warmup_steps=2) for s in range(11)]
    assert f[0] == 0.5 and f[1] == 1.0  # linear warm-up reaches the peak
    assert f[2] == 1.0 and f[10] == pytest.approx(0.0, abs=1e-15)  # cosine from the peak down to 0
    assert f[6] == pytest.approx(0.5)  # half-way through the decay
    assert all(a >= b for a, b in zip(f[1:], f[2:]))
    assert train.warmup_cosine(0, total_steps=4, warmup_steps=0) == 1.0


def test_history_is_embedding_report_of_the_trained_model(digits):
    # fit's per-epoch record is measure.embedding_report on the monitor's images, not a copy of it.
    train_data, test_data = digits
    method = _method()
    result = train.fit(method, train_data, epochs=1, eval_data=test_data, **TINY)
    split = monitor.split_for_eval(train_data, test_data, seed=0)
    watch = monitor.monitor_subset(split, TINY["knn_train_size"], TINY["knn_test_size"], seed=0)
    assert watch.test_images.shape[0] == TINY["knn_test_size"]
    report = measure.embedding_report(
        method,
        watch.test_images,
        aug=augment.batched(8, 1),  # the default 𝒜 of 8×8 one-channel images, as fit builds it
        seed=0,
        labels=watch.test_labels,
        train=(watch.train_images, watch.train_labels),
        probes=("knn",),
        amp_dtype=CPU_AMP,
    )
    last = result["history"][-1]
    assert set(report) == KEYS - {"epoch", "loss", "seconds"}
    for key, value in report.items():
        assert last[key] == pytest.approx(value, rel=0, abs=1e-6), key


def test_epoch_zero_measures_the_untrained_model_with_calibrated_batchnorm(digits):
    # A fresh BatchNorm (running mean 0, variance 1) squeezes every image to nearly one point in eval
    # mode; epoch 0 is measured on a copy calibrated on the watched training images instead.
    import copy

    train_data, test_data = digits
    method = _method()
    untouched = copy.deepcopy(method)
    first = train.fit(method, train_data, epochs=0, eval_data=test_data, **TINY)["history"][0]
    split = monitor.split_for_eval(train_data, test_data, seed=0)
    watch = monitor.monitor_subset(split, TINY["knn_train_size"], TINY["knn_test_size"], seed=0)
    kwargs = {
        "aug": augment.batched(8, 1),
        "seed": 0,
        "labels": watch.test_labels,
        "train": (watch.train_images, watch.train_labels),
        "probes": ("knn",),
        "amp_dtype": CPU_AMP,
    }
    raw = measure.embedding_report(untouched, watch.test_images, **kwargs)
    measure.calibrate_batchnorm(untouched, watch.train_images)
    calibrated = measure.embedding_report(untouched, watch.test_images, **kwargs)
    for key, value in calibrated.items():
        assert first[key] == pytest.approx(value, rel=0, abs=1e-6), key
    assert first["alignment"] != pytest.approx(raw["alignment"], rel=1e-3)  # the calibration mattered


def test_zero_epochs_probes_the_untrained_encoder(digits):
    train_data, test_data = digits
    method = _method()
    before = {k: v.clone() for k, v in method.state_dict().items()}
    result = train.fit(method, train_data, epochs=0, eval_data=test_data, **TINY)
    assert len(result["history"]) == 1 and result["checkpoint"] is None
    for key, value in method.state_dict().items():
        assert torch.equal(value, before[key]), key  # still the untrained encoder
    h_train = measure.embed(method, train_data.images, amp_dtype=CPU_AMP)  # (N, feature_dim)
    h_test = measure.embed(method, test_data.images, amp_dtype=CPU_AMP)  # (M, feature_dim)
    expected = probes.linear_probe(h_train, train_data.labels, h_test, test_data.labels)
    assert result["linear_accuracy"] == pytest.approx(expected, abs=1e-12)


def test_supcon_trains_with_labels_and_without_eval_data(digits):
    train_data, _ = digits
    method = _method("supcon")
    result = train.fit(method, train_data, epochs=2, **TINY)
    losses = [h["loss"] for h in result["history"]]
    assert losses[2] < losses[1] < losses[0] and losses[2] < 0.8 * losses[0]  # labelled positives pulled in
    # Without eval_data the probes use a fixed 20% of the training images as their test set.
    n = len(train_data)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    held_in, held_out = order[: int(0.8 * n)], order[int(0.8 * n) :]
    h = measure.embed(method, train_data.images, amp_dtype=CPU_AMP)  # (N, feature_dim)
    labels = train_data.labels
    expected = probes.linear_probe(h[held_in], labels[held_in], h[held_out], labels[held_out])
    assert result["linear_accuracy"] == pytest.approx(expected, abs=1e-12)


def test_initial_loss_measurement_changes_nothing(digits):
    # Epoch 0 runs the loss in train mode (BatchNorm statistics, MoCo's queue) and must undo it.
    train_data, test_data = digits
    method = _method("moco")
    before = {k: v.clone() for k, v in method.state_dict().items()}
    train.fit(method, train_data, epochs=0, eval_data=test_data, **TINY)
    for key, value in method.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bad_arguments(digits, tmp_path):
    train_data, _ = digits
    bad = [
        (ValueError, r"'batch_size' parameter of fit must be <= the number of images", {"batch_size": 4096}),
        (ValueError, r"'lr' parameter of fit must be > 0", {"lr": -1.0}),
        (ValueError, r"'amp' parameter of fit must be one of", {"amp": "fp8"}),
        (ValueError, r"'amp' parameter of fit must be 'bf16', 'auto' or 'off' on the CPU", {"amp": "fp16"}),
        (ValueError, r"'knn_test_size' parameter of fit must be an int >= 2", {"knn_test_size": 1}),
        (TypeError, r"'epochs' parameter of fit must be an int", {"epochs": 1.5}),
        (
            TypeError,
            r"'learning_rate' parameter of fit must be one of FitConfig's fields",
            {"learning_rate": 0.1},
        ),
    ]
    for error, message, kwargs in bad:
        with pytest.raises(error, match=message):
            train.fit(_method(), train_data, **{"epochs": 1, **kwargs}, device="cpu", out_dir=tmp_path)
    with pytest.raises(TypeError, match=r"'train_data' parameter of fit must be an ImageTensors"):
        train.fit(_method(), torch.zeros(10, 1, 8, 8), epochs=1, out_dir=tmp_path)
    with pytest.raises(TypeError, match=r"'method' parameter of fit must be an nn.Module with loss"):
        train.fit(torch.nn.Linear(2, 2), train_data, epochs=1, out_dir=tmp_path)
    assert not os.listdir(tmp_path)  # every check ran before anything was written
    with pytest.raises(ValueError, match=r"'out_dir' parameter of fit must be a directory when resume=True"):
        train.fit(_method(), train_data, epochs=1, resume=True)


def test_precision_is_described_with_its_reason(monkeypatch):
    from edu_contrast.train import precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: False)
    assert (
        precision.describe(None, cpu)
        == "float32 (this CPU has no AMX: bfloat16 would be emulated and slower)"
    )
    assert (
        precision.describe(torch.bfloat16, cpu)
        == "bfloat16 autocast (forced with --amp bf16; slower without AMX)"
    )
    monkeypatch.setattr(precision, "cpu_has_fast_bfloat16", lambda: True)
    assert precision.describe(torch.bfloat16, cpu) == "bfloat16 autocast (AMX)"
    assert precision.describe(None, cpu) == "float32"  # --amp off on an AMX CPU
    assert precision.describe(torch.float16, cuda) == "float16 autocast on cuda with loss scaling"


def test_view_size_sets_the_side_of_the_training_views_only(digits, tmp_path):
    # Views are view_size × view_size crops; the checkpoint keeps the side; probes see whole images.
    train_data, test_data = digits
    method = _method()
    sides = []
    loss = method.loss
    method.loss = lambda x1, x2, labels=None: sides.append((x1.shape[-2:], x2.shape[-2:])) or loss(x1, x2)
    settings = {"eval_data": test_data, "out_dir": tmp_path, **TINY}
    result = train.fit(method, train_data, epochs=1, view_size=6, **settings)
    assert sides and set(sides) == {(torch.Size([6, 6]), torch.Size([6, 6]))}
    assert train.load_checkpoint(tmp_path / train.CHECKPOINT_NAME)["config"]["view_size"] == 6
    h_train = measure.embed(method, train_data.images, amp_dtype=CPU_AMP)  # (N, feature_dim) of 8×8 images
    h_test = measure.embed(method, test_data.images, amp_dtype=CPU_AMP)
    expected = probes.linear_probe(h_train, train_data.labels, h_test, test_data.labels)
    assert result["linear_accuracy"] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(train.ResumeMismatchError, match="view_size"):
        train.fit(_method(), train_data, epochs=2, resume=True, **settings)
    with pytest.raises(ValueError, match=r"'view_size' parameter of fit must be an int >= 1. Got 0"):
        train.fit(_method(), train_data, epochs=1, view_size=0, device="cpu")


def test_fit_docstring_lists_every_setting():
    documented = train.fit.__doc__
    for field in dataclasses.fields(train.FitConfig):
        assert f"{field.name} (" in documented or field.name == "epochs", field.name
