"""benchmarks/bench_gpu.py: one line without CUDA; its --device cpu --tiny path runs every section."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "benchmarks" / "bench_gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_cpu_run_writes_every_section(tmp_path, capsys):
    out = tmp_path / "bench.json"
    args = ["--device", "cpu", "--tiny", "--notebooks", "01_infonce", "09_simclr_cifar10:reference"]
    assert _bench().main([*args, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["tiny"] and report["device"].startswith("CPU")
    variants = {(r["amp"], r["channels_last"], r["compile"]) for r in report["step"]}
    assert variants == {("off", False, None), ("off", True, None), ("off", True, "eager")}
    assert all(r["model_ms"] > 0 and r["full_ms"] > 0 for r in report["step"])
    assert set(report["recipes"]) == {"fast", "reference"}
    fast = report["recipes"]["fast"]
    assert fast["epoch_s"] == pytest.approx(fast["step_ms"] / 1000 * (50_000 // fast["batch"]))
    assert set(report["notebooks"]) == {"01_infonce", "09_simclr_cifar10:reference"}
    reference = report["notebooks"]["09_simclr_cifar10:reference"]
    run = reference["runs"][0]
    assert reference["extrapolated_s"] == pytest.approx(run["step_ms"] / 1000 * run["steps"] * run["count"])
    assert run["steps"] == 15_600 and reference["budget_projection_s"] is None  # no GPU, no projection
    assert len(report["notebooks"]["01_infonce"]["runs"]) == 10  # ten batch sizes, each timed
    knn = report["knn"]
    assert knn["dataset"].startswith("fake CIFAR-10") and len(knn["knn_accuracy"]) == 2  # epochs 0 and 1
    assert "→" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_without_cuda_it_says_so_in_one_line(capsys):
    assert _bench().main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CUDA" in err and "--device cpu --tiny" in err


def test_notebooks_past_the_time_limit_are_skipped_and_say_so(tmp_path):
    out = tmp_path / "bench.json"
    args = ["--device", "cpu", "--tiny", "--notebooks", "01_infonce", "--max-minutes", "0", "--out", str(out)]
    assert _bench().main(args) == 0
    assert "no time left" in json.loads(out.read_text())["notebooks"]["01_infonce"]["skipped"]
