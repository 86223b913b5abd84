"""Tracked runs of notebooks 03 and 04 (lessons/_runs.py): the geometry record is measure's report plus the
lesson's extras, calibration undoes the eval-mode artefact, a run records every epoch, runs are cached."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from edu_contrast import data, diagnostics, measure, methods
from edu_contrast.lessons import _runs
from edu_contrast.lessons._cache import cached_names, clear_cache
from edu_contrast.lessons._runs import Run
from edu_contrast.models import SmallConvNet

HEAD = {"hidden_dim": 16, "out_dim": 5}


def _simclr(seed=0, width=4, **head):
    torch.manual_seed(seed)
    return methods.SimCLR(SmallConvNet(1, feature_dim=8, width=width), **(head or HEAD))


@pytest.fixture(scope="module")
def digits():
    """Small stratified digits subsets: 96 training and 40 held-out images."""
    g = torch.Generator().manual_seed(0)
    train = data.load_dataset("digits", "train").subset(96, g)
    return train, data.load_dataset("digits", "test").subset(40, g)


def test_pair_distance_is_the_mean_over_pairs():
    z = torch.randn(12, 3, generator=torch.Generator().manual_seed(0)) * 3  # not unit rows
    u = F.normalize(z.double(), dim=1)
    pairs = [float((u[i] - u[j]).pow(2).sum()) for i, j in itertools.combinations(range(12), 2)]
    assert _runs.pair_distance(z) == pytest.approx(sum(pairs) / len(pairs), rel=1e-12)
    assert _runs.pair_distance(torch.ones(5, 4)) == pytest.approx(0.0, abs=1e-12)  # one point: collapse


def test_uncalibrated_eval_mode_looks_collapsed_and_calibration_undoes_it(digits):
    train, test = digits
    method = _simclr(width=8, hidden_dim=32, out_dim=3)
    naive = _runs.measure_geometry(method, test.images)
    measure.calibrate_batchnorm(method, train.images)
    calibrated = _runs.measure_geometry(method, test.images)
    assert naive["pair_distance"] < 0.05 < 0.5 < calibrated["pair_distance"]


def test_measure_geometry_is_measures_report_plus_the_extras(digits):
    _, test = digits
    method = _simclr()
    state = torch.get_rng_state()
    first = _runs.measure_geometry(method, test.images, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    emb = measure.measure_embeddings(method, test.images, aug=None, seed=3)
    report = measure.report_embeddings(emb)
    assert {k: first[k] for k in report} == report  # the one definition of each key
    z, h = first["z"], first["h"]
    assert z.shape == (40, 5) and h.shape == (40, 8) and torch.equal(z, emb.z)
    assert first["erank_h"] == pytest.approx(diagnostics.effective_rank(h))
    assert first["std_z"] == pytest.approx(float(z.double().std(dim=0).mean()))
    assert first["pair_distance"] == pytest.approx(_runs.pair_distance(z))
    assert _runs.measure_geometry(method, test.images, seed=4)["alignment"] != first["alignment"]


def test_track_run_records_every_epoch(digits):
    train, test = digits
    method = _simclr(hidden_dim=16, out_dim=3)
    run = _runs.track_run(method, train, test, epochs=2, batch_size=32, name="tiny", track_size=30)
    assert isinstance(run, Run) and run.name == "tiny"
    assert [h["epoch"] for h in run.history] == [0, 1, 2]
    keys = ("loss", "knn_accuracy", "pair_distance", "std_z", "knn_z", *measure.REPORT_KEYS)
    for key in keys:
        assert all(key in h for h in run.history), key
    assert len(run.snapshots) == 3 and run.snapshots[0].shape == (30, 3)
    torch.testing.assert_close(run.snapshots[0].norm(dim=1), torch.ones(30))
    torch.testing.assert_close(run.snapshots[-1], F.normalize(run.z, dim=1))
    assert run.h.shape == (30, 8) and torch.equal(run.labels, test.labels[:30])
    # the last record is the geometry of the trained method on the tracked images
    final = _runs.measure_geometry(method, test.images[:30])
    assert run.final["uniformity"] == pytest.approx(final["uniformity"], rel=1e-5)
    assert run.trajectory()[0] == (run.history[0]["alignment"], run.history[0]["uniformity"])
    assert run.summary()["linear_accuracy"] == run.linear_accuracy
    assert not _runs.track_run(_simclr(), train, test, epochs=0, batch_size=32).snapshots


def test_tracked_run_trains_once_per_name(digits, monkeypatch):
    train, test = digits
    clear_cache()
    calls = []

    def fake_track_run(method, train_data, eval_data, *, epochs, name, **kwargs):
        calls.append(name)
        return Run(name, [{"epoch": 0}], None, torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2))

    monkeypatch.setattr(_runs, "track_run", fake_track_run)
    first = _runs.tracked_run("a", _simclr, train, test, epochs=1)
    assert _runs.tracked_run("a", _simclr, train, test, epochs=1) is first
    assert _runs.tracked_run("a", _simclr, train, test, epochs=2) is not first  # another key
    assert calls == ["a", "a"] and len(cached_names()) == 2
    with pytest.raises(TypeError, match="'build' parameter of tracked_run"):
        _runs.tracked_run("b", None, train, test, epochs=1)
    clear_cache()
