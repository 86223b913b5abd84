"""fit's out_dir: a run is never replaced silently, overwrite keeps the old run until the new one has an
epoch, resume continues exactly the run in the checkpoint (or re-plans it for more epochs), divergence
is reported as divergence."""

from __future__ import annotations

import math
import re
import shutil
import sys

import pytest
import torch

from edu_contrast import augment, data, train
from edu_contrast.methods import build_method

FIT = sys.modules["edu_contrast.train.fit"]  # the module (``train.fit`` is the function)
TINY = {
    "batch_size": 64,
    "samples_per_epoch": 256,  # 4 steps per epoch
    "lr": 1e-3,
    "progress": False,
    "knn_train_size": 200,
    "knn_test_size": 100,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train"), data.load_dataset("digits", "test")


def _method(seed=0, **hyper):
    torch.manual_seed(seed)
    return build_method("simclr", encoder="convnet", in_channels=1, width=4, feature_dim=32, **hyper)


def _fit(digits, out, epochs=1, method=None, **settings):
    train_data, test_data = digits
    method = method if method is not None else _method()
    return train.fit(
        method, train_data, epochs=epochs, eval_data=test_data, out_dir=out, **{**TINY, **settings}
    )


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def finished(digits, tmp_path_factory):
    """A finished 1-epoch run; tests that only get refused may share it (they must not change it)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    _fit(digits, out, config={"dataset": "digits"})
    return out


class Interrupted(Exception):
    pass


def _raise_at_step(monkeypatch, n):
    """Make the n-th optimiser step (1-based) raise Interrupted, as a killed process would stop there."""
    calls = []

    def step(*args):
        calls.append(1)
        if len(calls) == n:
            raise Interrupted
        return original(*args)

    original = FIT.train_step
    monkeypatch.setattr(FIT, "train_step", step)


# ----------------------------------------------------------------------------- a run is not replaced silently


def test_a_folder_holding_a_run_is_refused_and_left_untouched(digits, finished):
    before = _files(finished)
    with pytest.raises(train.RunExistsError) as error:
        _fit(digits, finished, epochs=3, config={"dataset": "digits"})
    assert isinstance(error.value, FileExistsError)
    message = str(error.value)
    assert f"{finished} already holds a training run" in message
    assert "resume=True to continue it" in message and "overwrite=True to start over" in message
    assert _files(finished) == before  # not a byte written, no temporary or .prev file


def test_overwrite_keeps_the_old_run_until_the_new_one_has_saved_an_epoch(digits, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _fit(digits, out)
    old = _files(out)
    _raise_at_step(monkeypatch, 1)  # the new run stops in its first epoch (Ctrl-C, a crash)
    with pytest.raises(Interrupted):
        _fit(digits, out, epochs=2, overwrite=True, seed=5)
    monkeypatch.undo()
    now = _files(out)
    assert (
        now["checkpoint.prev.pt"] == old["checkpoint.pt"] and now["metrics.prev.json"] == old["metrics.json"]
    )
    assert train.load_checkpoint(out)["epoch"] == 0  # the new run's own epoch 0, beside the old run
    with pytest.raises(train.RunExistsError, match=r"It also holds checkpoint.prev.pt"):
        _fit(digits, out)
    again = tmp_path / "again"  # the same situation, continued with resume instead
    shutil.copytree(out, again)
    _fit(digits, out, epochs=2, overwrite=True, seed=5, callback=_check_prev_gone(out))
    assert sorted(_files(out)) == ["checkpoint.pt", "metrics.json"]
    state = train.load_checkpoint(out)
    assert state["epoch"] == 2 and state["config"]["seed"] == 5
    _fit(digits, again, epochs=2, resume=True, seed=5, callback=_check_prev_gone(again))
    assert sorted(_files(again)) == ["checkpoint.pt", "metrics.json"]


def _check_prev_gone(out):
    def callback(record):
        if record["epoch"] == 1:  # called right after epoch 1 was saved
            assert not (out / "checkpoint.prev.pt").exists() and not (out / "metrics.prev.json").exists()

    return callback


def test_a_folder_holding_only_the_set_aside_run_is_refused(digits, tmp_path):
    out = tmp_path / "run"
    _fit(digits, out)
    (out / "checkpoint.pt").rename(out / "checkpoint.prev.pt")
    with pytest.raises(train.RunExistsError, match=r"holds checkpoint.prev.pt.*Rename it to checkpoint.pt"):
        _fit(digits, out)


def test_out_dir_must_be_a_writable_folder(digits, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(
        ValueError, match=r"'out_dir' parameter of fit must be a folder\. Got '.*notes.txt', which is a file"
    ):
        _fit(digits, a_file)
    with pytest.raises(
        ValueError, match=r"must be a folder this program can write to\. Got .*\(Not a directory\)"
    ):
        _fit(digits, a_file / "run")
    assert a_file.read_text() == "x"
    with pytest.raises(ValueError, match=r"'overwrite' parameter of fit must be False when resume=True"):
        _fit(digits, tmp_path / "new", resume=True, overwrite=True)


# --------------------------------------------------------------- resume continues exactly that run


@pytest.mark.parametrize(
    "change, key",
    [
        ({"lr": 2e-3}, "lr"),
        ({"weight_decay": 0.0}, "weight_decay"),
        ({"warmup_epochs": 0.5}, "warmup_epochs"),
        ({"augment_config": augment.AugmentConfig.weak()}, "augment.crop_scale"),
        ({"amp": "off"}, "amp"),
        ({"seed": 1}, "seed"),
        ({"batch_size": 32}, "batch_size"),
        ({"samples_per_epoch": 128}, "samples_per_epoch"),
        ({"config": {"dataset": "fashion-mnist"}}, "dataset"),
        ({"method": "temperature"}, "method.temperature"),
    ],
)
def test_resume_refuses_any_changed_setting(digits, finished, change, key):
    before = _files(finished)
    settings = {"config": {"dataset": "digits"}, **change}
    if change.get("method"):
        settings["method"] = _method(temperature=0.9)
    with pytest.raises(train.ResumeMismatchError, match="Cannot resume the run") as error:
        _fit(digits, finished, resume=True, **settings)
    assert key in [k for k, _, _ in error.value.differences], error.value.differences
    assert _files(finished) == before


def test_resume_lists_every_difference(digits, finished):
    with pytest.raises(train.ResumeMismatchError) as error:
        _fit(digits, finished, resume=True, lr=2e-3, weight_decay=0.0, config={"dataset": "digits"})
    assert error.value.differences == [("lr", 1e-3, 2e-3), ("weight_decay", 1e-4, 0.0)]
    assert "lr=0.001 in the checkpoint, 0.002 now; weight_decay=0.0001 in the checkpoint, 0.0 now" in str(
        error.value
    )


def test_epochs_below_the_checkpoint_epoch_are_refused(digits, finished):
    with pytest.raises(train.ResumeMismatchError, match=r"'epochs' parameter of fit must be >= 1 .*Got 0"):
        _fit(digits, finished, epochs=0, resume=True, config={"dataset": "digits"})


def test_resume_without_a_checkpoint_says_so_in_one_line_and_starts(digits, tmp_path, capsys):
    result = _fit(digits, tmp_path / "typo", resume=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if "checkpoint" in line]
    assert lines == [f"resume=True, but {tmp_path / 'typo'} holds no checkpoint: starting a new run."]
    assert [h["epoch"] for h in result["history"]] == [0, 1]


def test_resume_takes_warmup_and_augmentation_from_the_checkpoint(digits, tmp_path, capsys):
    out = tmp_path / "run"
    weak = augment.AugmentConfig.weak()
    _fit(digits, out, warmup_epochs=0.5, augment_config=weak)
    result = _fit(digits, out, resume=True)  # None: the checkpoint's warm-up and augmentation
    assert "the run is complete, only the final linear probe runs again" in capsys.readouterr().out
    state = train.load_checkpoint(out)
    assert state["config"]["warmup_epochs"] == 0.5 and state["config"]["augment"]["crop_scale"] == (0.8, 1.0)
    assert [h["epoch"] for h in result["history"]] == [0, 1] and "replanned" not in state["config"]


def test_more_epochs_extend_the_run_with_a_replanned_schedule(digits, tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    _fit(digits, out)  # 1 epoch of 4 steps, its cosine ends at lr 0
    lrs = []
    original = FIT.train_step

    def step(model, optimizer, *args):
        lrs.append(optimizer.param_groups[0]["lr"])
        return original(model, optimizer, *args)

    monkeypatch.setattr(FIT, "train_step", step)
    result = _fit(digits, out, epochs=2, resume=True)
    printed = capsys.readouterr().out
    assert "extended to 2 epochs: the learning-rate schedule was re-planned" in printed
    # Steps 4..7 follow the 2-epoch plan (S = 8, W = round(0.1 · 4) = 0), not the finished 1-epoch one.
    expected = [1e-3 * train.warmup_cosine(s, total_steps=8, warmup_steps=0) for s in range(4, 8)]
    assert lrs == pytest.approx(expected, rel=1e-12) and lrs[0] == pytest.approx(5e-4)
    assert [h["epoch"] for h in result["history"]] == [0, 1, 2]
    config = train.load_checkpoint(out)["config"]
    assert config["epochs"] == 2 and config["replanned"] == [
        {"after_epoch": 1, "from_epochs": 1, "to_epochs": 2}
    ]
    _fit(digits, out, epochs=2, resume=True)  # the stored config is what was trained: resumes again
    assert train.load_checkpoint(out)["config"]["replanned"] == config["replanned"]


def test_resume_after_epoch_0_does_not_measure_it_twice(digits, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _raise_at_step(monkeypatch, 1)  # killed in epoch 1, after epoch 0 was saved
    with pytest.raises(Interrupted):
        _fit(digits, out)
    monkeypatch.undo()
    result = _fit(digits, out, resume=True)
    assert [h["epoch"] for h in result["history"]] == [0, 1]


# ----------------------------------------------------------------------------- divergence, devices


def test_a_diverging_run_is_reported_as_divergence_naming_lr(digits, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(train.TrainingDivergedError) as error:
        _fit(digits, out, epochs=2, lr=1e6)
    message = str(error.value)
    epoch = int(re.search(r"Training diverged in epoch (\d+): the embeddings", message).group(1))
    assert "lower lr (lr=1e+06; try lr=100000)" in message and "nt_xent" not in message
    assert f"start again with overwrite=True (the checkpoint in out_dir holds epoch {epoch - 1}" in message
    assert error.value.parameter == "lr"
    assert train.load_checkpoint(out)["epoch"] == epoch - 1  # the last good checkpoint, nothing half-written
    assert sorted(_files(out)) == ["checkpoint.pt", "metrics.json"]


def test_a_loss_that_becomes_nan_is_divergence_too(digits):
    method = _method()
    real = method.loss
    method.loss = lambda x1, x2, labels=None: real(x1, x2, labels) + math.nan  # the gradient stays finite
    with pytest.raises(
        train.TrainingDivergedError, match=r"the training loss became nan.*lower lr \(lr=0.001"
    ):
        _fit(digits, None, method=method)


def test_the_progress_bar_read_stops_a_diverged_run_before_the_epoch_ends(digits, monkeypatch):
    """The bar reads the loss every 10 steps anyway: a NaN it reads stops the run there."""
    method, steps = _method(), []
    real = method.loss
    method.loss = lambda x1, x2, labels=None: real(x1, x2, labels) + math.nan
    original = FIT.train_step
    monkeypatch.setattr(FIT, "train_step", lambda *args: steps.append(1) or original(*args))
    with pytest.raises(train.TrainingDivergedError, match=r"epoch 1: the training loss became nan"):
        _fit(digits, None, method=method, progress=True)  # 4 steps; the bar reads after the first
    assert len(steps) == 1


def test_weights_that_stop_being_finite_in_the_last_step_are_never_saved(digits, tmp_path, monkeypatch):
    """The epoch's losses are all finite, but the last step broke a weight: no checkpoint of it."""
    out, method = tmp_path / "run", _method()
    real = method.on_step_end

    def break_a_weight_at_the_end(progress):
        real(progress)
        if progress > 0.999:  # after the last step of epoch 2
            next(method.parameters()).data.fill_(math.inf)

    monkeypatch.setattr(method, "on_step_end", break_a_weight_at_the_end)
    with pytest.raises(train.TrainingDivergedError, match=r"epoch 2: the embeddings are no longer finite"):
        _fit(digits, out, epochs=2, method=method)
    assert train.load_checkpoint(out)["epoch"] == 1


def test_devices_that_do_not_exist_are_refused_before_anything_is_written(digits, tmp_path):
    bad = [("gpu", r"must be a device such as 'cpu', 'cuda' or 'cuda:1'. Got 'gpu'")]
    if not torch.cuda.is_available():
        bad.append(("cuda", r"must be 'cpu' on this machine \(PyTorch finds no CUDA GPU\)\. Got 'cuda'"))
    else:
        bad.append((f"cuda:{torch.cuda.device_count()}", r"must be one of this machine's"))
    for device, message in bad:
        with pytest.raises(ValueError, match=rf"'device' parameter of fit {message}"):
            _fit(digits, tmp_path / "run", device=device)
    with pytest.raises(
        ValueError, match=r"'amp' parameter of fit must be 'bf16', 'auto' or 'off' on the CPU"
    ):
        _fit(digits, tmp_path / "run", amp="fp16")
    assert not (tmp_path / "run").exists()
