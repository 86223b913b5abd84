"""``python -m edu_contrast``: train on digits, resume, evaluate, and helpful errors (run as a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FAST = ["--epochs", "1", "--batch-size", "128", "--samples-per-epoch", "512", "--width", "8", "--no-progress",
        "--device", "cpu"]
KEYS = {"epoch", "loss", "knn_accuracy", "positive_cosine", "effective_rank", "seconds"}


def _run(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "edu_contrast", *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = _run("train", "--method", "simclr", "--dataset", "digits", "--temperature", "0.3", "--seed", "1",
                "--out", out, *FAST)
    return out, proc.stdout


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
    args = [a if a != "1" else "2" for a in FAST]  # --epochs 2
    _run("train", "--method", "simclr", "--dataset", "digits", "--temperature", "0.3", "--seed", "1",
         "--out", out, "--resume", *args)
    after = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in after] == [0, 1, 2]
    assert after[:2] == before  # epochs 0 and 1 were not redone


def test_evaluate_reprobes(run_dir):
    out, _ = run_dir
    proc = _run("evaluate", out)
    assert "linear-probe accuracy" in proc.stdout and "kNN accuracy" in proc.stdout


def test_bad_arguments_give_helpful_messages(tmp_path):
    proc = _run("train", "--method", "simsiam", check=False)
    assert proc.returncode == 2 and "invalid choice: 'simsiam'" in proc.stderr and "simclr" in proc.stderr
    proc = _run("train", "--method", "byol", "--temperature", "0.1", check=False)
    assert proc.returncode == 2 and "byol has no temperature" in proc.stderr
    proc = _run("train", "--epochs", "-3", check=False)
    assert proc.returncode == 2 and "--epochs" in proc.stderr and "expected an integer >= 0" in proc.stderr
    proc = _run("evaluate", tmp_path / "nowhere", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_corrupt_checkpoint_is_reported_without_a_traceback(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    proc = _run("train", "--out", tmp_path, "--resume", *FAST, check=False)
    assert proc.returncode == 1 and "corrupt" in proc.stderr and "Traceback" not in proc.stderr
