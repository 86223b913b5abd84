"""``python -m edu_contrast``: train on digits, resume, evaluate, and helpful errors.

Training and one bad argument run as real subprocesses (``python -m edu_contrast``); the other
checks call ``cli.main`` in-process, which parses the same arguments without a new interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fast_train import FAST

from edu_contrast import cli, measure

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


def test_a_bad_argument_gives_a_helpful_message():
    proc = _run("train", "--method", "simsiam")
    assert proc.returncode == 2
    assert "argument --method: invalid choice: 'simsiam'" in proc.stderr and "simclr" in proc.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--method", "byol", "--temperature", "0.1"], "byol has no temperature"),
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
    assert cli.main(["train", "--out", str(tmp_path), "--resume", "--epochs", "1", *FAST]) == 1
    err = capsys.readouterr().err
    assert "corrupt or truncated" in err and "Delete it" in err


def test_summary_fits_one_screen():
    history = [{key: 0.5 for key in KEYS} | {"epoch": e, "erank_z": 3.0} for e in range(101)]
    text = cli.summary({"history": history, "linear_accuracy": 0.9}, "simclr", "digits", cli.Path("runs/x"))
    lines = text.splitlines()
    assert len(lines) <= 16 and "  100 " in text and "0.9000" in text
    assert max(map(len, lines)) <= 88  # one terminal width
    assert lines[1].split() == "epoch loss kNN acc align unif pos cos erank z erank h seconds".split()
    assert lines[2].split()[6] == "3.0"  # erank_z under its header


def test_number_converter():
    positive = cli.number(float, "> 0")
    assert positive("0.5") == 0.5 and cli.number(int, ">= 0")("0") == 0
    assert isinstance(cli.number(int, ">= 2")("3"), int)
    for text in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(cli.argparse.ArgumentTypeError, match=rf"expected a number > 0, got '{text}'"):
            positive(text)
    with pytest.raises(cli.argparse.ArgumentTypeError, match=r"expected an integer >= 1, got '2.5'"):
        cli.number(int, ">= 1")("2.5")
