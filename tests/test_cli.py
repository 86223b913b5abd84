"""``python -m edu_contrast``: train on digits, resume, overwrite, evaluate, --help, and helpful errors.

Training and one bad argument run as real subprocesses (``python -m edu_contrast``); the other
checks call ``cli.main`` in-process, which parses the same arguments without a new interpreter.
Every user error of the list in issue 12, as a subprocess: tests/test_cli_errors.py.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fast_train import FAST

from edu_contrast import __version__, cli, losses, measure, train
from edu_contrast.cli import commands, parser
from edu_contrast.train.storage import save_checkpoint

KEYS = {"epoch", "loss", "seconds", "knn_accuracy", *measure.REPORT_KEYS}  # a history entry


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "edu_contrast", *map(str, args)], capture_output=True, text=True, timeout=600
    )


def _train(out, epochs, *extra):
    proc = _run(
        "train",
        "--method",
        "simclr",
        "--dataset",
        "digits",
        "--temperature",
        "0.3",
        "--seed",
        "1",
        "--epochs",
        epochs,
        "--out",
        out,
        *FAST,
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    return out, _train(out, 1)


def test_train_writes_checkpoint_and_metrics_and_prints_a_summary(run_dir):
    out, stdout = run_dir
    assert (out / "checkpoint.pt").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1]
    assert all(set(h) == KEYS for h in metrics["history"])
    assert 0 < metrics["linear_accuracy"] <= 1
    assert "linear-probe accuracy" in stdout and f"{metrics['linear_accuracy']:.4f}" in stdout
    assert len(stdout.splitlines()) < 25  # one screen
    expected = train.precision.describe(
        train.autocast_dtype("auto", torch.device("cpu")), torch.device("cpu")
    )
    assert f"precision: {expected}" in stdout  # chosen automatically, and said


def test_resume_continues_to_the_requested_total(run_dir):
    out, _ = run_dir
    before = json.loads((out / "metrics.json").read_text())["history"]
    _train(out, 2, "--resume")
    after = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in after] == [0, 1, 2]
    assert after[:2] == before  # epochs 0 and 1 were not redone


def test_evaluate_reprobes(run_dir, capsys):
    out, _ = run_dir
    assert cli.main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "linear-probe accuracy" in printed and "kNN accuracy" in printed
    accuracy = json.loads((out / "metrics.json").read_text())["linear_accuracy"]
    assert f"{accuracy:.4f}" in printed  # the checkpoint holds the BatchNorm statistics train probed with


@pytest.mark.parametrize("flag, expected", [([], True), (["--no-calibrate-bn"], False)])
def test_calibrate_bn_is_on_unless_turned_off(flag, expected, monkeypatch, tmp_path):
    seen = {}

    def fake_fit(method, train_data, **settings):
        seen.update(settings)
        raise KeyboardInterrupt  # stop before any training; the CLI says how to continue

    monkeypatch.setattr(train, "fit", fake_fit)
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), *FAST, *flag]) == 130
    assert seen["calibrate_bn"] is expected


def test_a_bad_argument_gives_a_helpful_message():
    proc = _run("train", "--method", "simsiam")
    assert proc.returncode == 2
    assert "argument --method: invalid choice: 'simsiam'" in proc.stderr and "simclr" in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--method", "byol", "--temperature", "0.1"], "byol has no temperature"),
        (["train", "--method", "moco", "--tau-plus", "0.1"], "argument --tau-plus: moco has no τ⁺"),
        (["train", "--method", "supcon", "--beta", "1"], "argument --beta: supcon has no β (only simclr"),
        (["train", "--tau-plus", "1"], "argument --tau-plus: expected a number >= 0 and < 1, got '1'"),
        (["train", "--beta", "-1"], "argument --beta: expected a number >= 0, got '-1'"),
        (["train", "--epochs", "-3"], "argument --epochs: expected an integer >= 0, got '-3'"),
        (["train", "--lr", "0"], "argument --lr: expected a number > 0, got '0'"),
        (["train", "--lr", "nan"], "argument --lr: expected a number > 0, got 'nan'"),
        (["train", "--width", "four"], "argument --width: expected an integer >= 1, got 'four'"),
        (["train", "--batch-size", "1"], "argument --batch-size: expected an integer >= 2, got '1'"),
        (
            ["train", "--weight-decay", "-0.1"],
            "argument --weight-decay: expected a number >= 0, got '-0.1'",
        ),
        (["train", "--warmup-epochs", "inf"], "argument --warmup-epochs: expected a number >= 0, got 'inf'"),
        (["train", "--encoder", "resnet18", "--width", "8"], "only the convnet encoder has a width"),
        (
            ["train", "--encoder", "resnet18", "--last-kernel", "1"],
            "only the convnet encoder has a last kernel",
        ),
        (["train", "--last-kernel", "5"], "argument --last-kernel: invalid choice: 5"),
        (["train", "--last-stride", "3"], "argument --last-stride: invalid choice: 3"),
        (["train", "--view-size", "0"], "argument --view-size: expected an integer >= 1, got '0'"),
        (
            ["train", "--encoder", "resnet18", "--last-stride", "2"],
            "only the convnet encoder has a last stride",
        ),
        (["evaluate", "/nowhere/run"], "/nowhere/run does not exist"),
    ],
)
def test_more_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_corrupt_checkpoint_is_reported_without_a_traceback(tmp_path, capsys):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    assert cli.main(["train", "--out", str(tmp_path), "--resume", "--epochs", "1", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m edu_contrast train: error: argument --resume: The checkpoint")
    assert "truncated or corrupt" in err and "--overwrite" in err and "overwrite=True" not in err


def test_summary_fits_one_screen_and_times_the_whole_run():
    history = [{key: 0.5 for key in KEYS} | {"epoch": e, "erank_z": 3.0} for e in range(101)]
    result = {"history": history, "linear_accuracy": 0.9, "probe_seconds": 94.2}
    text = cli.summary(result, "simclr", "digits", Path("runs/x"), seconds=160.4)
    lines = text.splitlines()
    assert len(lines) <= 16 and "  100 " in text and "0.9000" in text
    assert "total 160 s (final probe 94.2 s)" in text  # the command's time, not the sum of the epochs (50 s)
    assert max(map(len, lines)) <= 88  # one terminal width
    assert lines[1].split() == "epoch loss kNN acc align unif pos cos erank z erank h seconds".split()
    assert lines[2].split()[6] == "3.0"  # erank_z under its header


def test_number_converter():
    positive = cli.number(float, "> 0")
    assert positive("0.5") == 0.5 and cli.number(int, ">= 0")("0") == 0
    assert isinstance(cli.number(int, ">= 2")("3"), int)
    for text in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match=rf"expected a number > 0, got '{text}'"):
            positive(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer >= 1, got '2.5'"):
        cli.number(int, ">= 1")("2.5")
    probability = cli.number(float, ">= 0", "< 1")  # every bound holds
    assert probability("0") == 0 and probability("0.99") == 0.99
    for text in ("1", "-0.1", "nan"):
        with pytest.raises(
            argparse.ArgumentTypeError, match=rf"expected a number >= 0 and < 1, got '{text}'"
        ):
            probability(text)


def test_help_shows_examples_and_the_defaults_per_dataset(capsys):
    for argv in (["--help"], ["train", "--help"], ["evaluate", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "``" not in text  # no raw reStructuredText
        assert ("examples:" in text) == (argv[0] != "evaluate")
    parser = cli.build_parser()
    train_help = parser._subparsers._group_actions[0].choices["train"].format_help()
    assert "--resume --epochs 12" in train_help and "--overwrite" in train_help
    for dataset, defaults in cli.DATASET_DEFAULTS.items():  # the table lists every dataset's defaults
        row = next(line for line in train_help.splitlines() if line.split()[:1] == [dataset])
        columns = (*cli.parser.CONVNET_KEYS, "epochs", "batch_size", "lr", "view_size")
        assert row.split()[1:] == ["-" if defaults[k] is None else str(defaults[k]) for k in columns]


def test_every_flag_has_help_and_version(capsys):
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, command in commands.items():
        for action in command._actions:
            assert action.help and action.help != argparse.SUPPRESS, f"{name} {action.option_strings}"
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"edu_contrast {__version__}"


def test_resume_takes_the_settings_from_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    _train(out, 1, "--lr", "1e-3", "--weight-decay", "0", "--augment", "weak")
    stdout = _train_without_settings(out, "--resume", "--epochs", "2")
    assert "extended to 2 epochs: the learning-rate schedule was re-planned" in stdout
    config = json.loads(json.dumps(_config(out)))
    assert (
        config["lr"] == 1e-3 and config["weight_decay"] == 0 and config["augment"]["crop_scale"] == [0.8, 1.0]
    )
    assert config["method"]["temperature"] == 0.3 and config["epochs"] == 2 and config["replanned"]
    for key in ("last_kernel", "last_stride"):  # the encoder's settings are kept on resume
        assert config["method"][key] == cli.DATASET_DEFAULTS["digits"][key]


def test_resume_keeps_the_view_size_of_the_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(out), "--view-size", "6", *FAST]) == 0
    monkeypatch.setitem(cli.DATASET_DEFAULTS["digits"], "view_size", 7)  # a later default must not apply
    assert cli.main(["train", "--out", str(out), "--resume", "--epochs", "2", *FAST]) == 0
    assert _config(out)["view_size"] == 6 and train.load_checkpoint(out / train.CHECKPOINT_NAME)["epoch"] == 2


def test_a_run_saved_before_last_stride_and_view_size_existed_resumes_as_it_was(tmp_path, monkeypatch):
    # Such a checkpoint has no "last_stride" (stride 1) and no "view_size" (whole-image views): the
    # defaults of today (stride 2, views of 6) must not replace them.
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *FAST]) == 0
    path = out / train.CHECKPOINT_NAME
    state = train.load_checkpoint(path)
    del state["config"]["method"]["last_stride"], state["config"]["view_size"], state["checksum"]
    save_checkpoint(state, path)  # as such a checkpoint was written
    monkeypatch.setitem(cli.DATASET_DEFAULTS["digits"], "last_stride", 2)
    monkeypatch.setitem(cli.DATASET_DEFAULTS["digits"], "view_size", 6)
    assert cli.main(["train", "--out", str(out), "--resume", "--epochs", "2", *FAST]) == 0
    state = train.load_checkpoint(path)
    assert "last_stride" not in state["config"]["method"] and state["epoch"] == 2
    assert state["config"]["view_size"] is None


def _train_without_settings(out, *extra):
    proc = _run("train", "--out", out, "--no-progress", "--device", "cpu", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _config(out):
    return train.load_checkpoint(out)["config"]


def test_the_default_out_folder_is_protected_too(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "edu_contrast", "train", "--epochs", "1", *FAST]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    checkpoint = tmp_path / "runs" / "simclr-digits" / "checkpoint.pt"
    before = checkpoint.read_bytes()
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "error: argument --out: runs/simclr-digits already holds a training run" in again.stderr
    assert checkpoint.read_bytes() == before


@pytest.mark.parametrize(
    "flags, spec, loss",
    [
        ([], {}, lambda z1, z2: losses.nt_xent(z1, z2, temperature=0.3)),
        (["--tau-plus", "0"], {}, lambda z1, z2: losses.nt_xent(z1, z2, temperature=0.3)),
        (
            ["--tau-plus", "0.1"],
            {"tau_plus": 0.1},
            lambda z1, z2: losses.debiased_nt_xent(z1, z2, temperature=0.3, tau_plus=0.1),
        ),
        (
            ["--tau-plus", "0.1", "--beta", "1"],
            {"tau_plus": 0.1, "beta": 1.0},
            lambda z1, z2: losses.hard_nt_xent(z1, z2, temperature=0.3, tau_plus=0.1, beta=1.0),
        ),
        (
            ["--beta", "0.5"],
            {"beta": 0.5},
            lambda z1, z2: losses.hard_nt_xent(z1, z2, temperature=0.3, tau_plus=0.0, beta=0.5),
        ),
    ],
)
def test_tau_plus_and_beta_reach_simclrs_loss(flags, spec, loss, monkeypatch, tmp_path):
    built = []

    def fake_fit(method, train_data, **settings):
        built.append(method)
        raise KeyboardInterrupt  # the method is built; no training needed

    monkeypatch.setattr(train, "fit", fake_fit)
    argv = ["train", "--epochs", "1", "--temperature", "0.3", "--out", str(tmp_path / "run"), *FAST, *flags]
    assert cli.main(argv) == 130
    method = built[0].train()  # batch statistics: varied z on this small batch
    assert {key: method.spec[key] for key in ("tau_plus", "beta") if key in method.spec} == spec  # 0: none
    torch.manual_seed(0)
    x1, x2 = torch.rand(2, 16, 1, 8, 8).unbind()  # a fixed batch of 16 digit-sized images
    with torch.no_grad():
        z1, z2 = method.project_pair(x1, x2)
        torch.testing.assert_close(method.loss(x1, x2), loss(z1, z2))
        plain = losses.nt_xent(z1, z2, temperature=0.3)
    assert torch.allclose(loss(z1, z2), plain) == (spec == {})  # τ⁺ or β change the loss on this batch


def test_resume_keeps_tau_plus_and_beta_and_refuses_another_tau_plus(tmp_path, capsys):
    out = tmp_path / "run"
    given = ["--tau-plus", "0.1", "--beta", "0.5"]
    assert cli.main(["train", "--epochs", "1", "--out", str(out), *FAST, *given]) == 0
    assert cli.main(["train", "--out", str(out), "--resume", "--epochs", "2", *FAST]) == 0
    method = _config(out)["method"]
    assert (method["tau_plus"], method["beta"]) == (0.1, 0.5) and _config(out)["epochs"] == 2
    assert cli.main(["train", "--out", str(out), "--resume", "--epochs", "3", *FAST, *given]) == 0  # the same
    capsys.readouterr()
    argv = ["train", "--out", str(out), "--resume", "--epochs", "4", "--tau-plus", "0.2", *FAST]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m edu_contrast train: error: argument --resume: the run in")
    assert "--tau-plus 0.1 in the checkpoint, 0.2 now" in err and "--beta" not in err and "--overwrite" in err
    assert train.load_checkpoint(out)["epoch"] == 3  # nothing trained


def _saved_nt_xent_run():
    """The config of a SimCLR run saved before --tau-plus and --beta existed: no such keys."""
    encoder = {key: cli.DATASET_DEFAULTS["digits"][key] for key in cli.parser.CONVNET_KEYS}
    return {"dataset": "digits", "method": {"name": "simclr", "temperature": 0.2, **encoder}}


@pytest.mark.parametrize("flags", [[], ["--tau-plus", "0"], ["--beta", "0"]])
def test_a_run_without_tau_plus_resumes_as_plain_nt_xent(flags):
    args = parser.build_parser().parse_args(["train", "--resume", *flags])
    s = commands.settings(args, parser.build_parser(), _saved_nt_xent_run())
    assert (s["tau_plus"], s["beta"]) == (0.0, 0.0)  # None/0: NT-Xent, nothing added to the spec


@pytest.mark.parametrize(
    "flags, named", [(["--tau-plus", "0.05"], "--tau-plus"), (["--beta", "1"], "--beta")]
)
def test_a_plain_nt_xent_run_refuses_tau_plus_or_beta_on_resume(flags, named):
    args = parser.build_parser().parse_args(["train", "--resume", "--out", "runs/x", *flags])
    with pytest.raises(train.ResumeMismatchError) as error:
        commands.settings(args, parser.build_parser(), _saved_nt_xent_run())
    message = cli.explain(error.value, "train")
    assert message.startswith("argument --resume: the run in runs/x was trained with other settings:")
    assert f"{named} 0.0 in the checkpoint, {float(flags[1])!r} now" in message
