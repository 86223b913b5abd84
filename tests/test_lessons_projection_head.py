"""Notebook 11's experiments: the methods they build, what they measure, and tiny runs of each study."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edu_contrast import data, measure
from edu_contrast.lessons import projection_head as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.lessons._predict import compare_prediction

TINY = dict(image=8, train=96, test=48, width=4, dim=8, epochs=2, batch=32, track=32,
            simclr_batches=(16, 32), moco_batch=16, queues=(32, 64))  # fmt: skip


@pytest.fixture
def tiny(monkeypatch):
    """Quick mode shrunk to random 8×8 images: every study runs in seconds."""
    monkeypatch.setitem(lesson._SCALES, "quick", TINY)
    clear_cache()
    g = torch.Generator().manual_seed(0)
    sets = [
        data.ImageTensors(torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8),
                          torch.arange(n) % 3, ["a", "b", "c"])
        for n in (TINY["train"], TINY["test"])
    ]  # fmt: skip
    yield sets
    clear_cache()


def test_scale_has_every_mode_and_refuses_others():
    assert (
        lesson.scale("lab")["train"] <= 5000
        and lesson.scale("quick")["epochs"] < lesson.scale("full")["epochs"]
    )
    assert set(lesson.scale("quick")) == set(lesson.scale("full"))
    with pytest.raises(ValueError, match="'mode' parameter of scale must be one of"):
        lesson.scale("fast")


def test_load_data_resizes_fashion_mnist_subsets():
    train_set, test_set = lesson.load_data("quick", seed=1)
    size = lesson.scale("quick")
    assert train_set.images.shape == (size["train"], 1, 16, 16) and train_set.images.dtype == torch.uint8
    assert len(test_set) == size["test"] and len(set(train_set.labels.tolist())) == 10
    again, _ = lesson.load_data("quick", seed=1)
    assert torch.equal(again.images, train_set.images)


@pytest.mark.parametrize("depth, linears", [(0, 0), (1, 1), (2, 2), (3, 3)])
def test_build_head_method_has_depth_linear_layers_and_z_of_size_dim(depth, linears):
    method = lesson.build_head_method("SWD → normal", depth, width=4, dim=8)
    assert sum(isinstance(m, nn.Linear) for m in method.projector.modules()) == linears
    assert method.weight == 32.0 and method.prior == "normal"  # λ = 4d
    x = torch.rand(5, 1, 8, 8)
    method.eval()
    assert method.project(x).shape == (5, 8)
    if depth == 0:
        assert torch.equal(method.project(x), method.embed(x))
    with pytest.raises(ValueError, match="'depth' parameter of build_head_method must be an int >= 0"):
        lesson.build_head_method("NT-Xent", -1, width=4, dim=8)


def test_loss_spread_is_max_minus_min_per_depth():
    table = {"a": {0: {"h": 0.5, "z": 0.4}, 2: {"h": 0.8, "z": 0.7}},
             "b": {0: {"h": 0.7, "z": 0.7}, 2: {"h": 0.75, "z": 0.7}}}  # fmt: skip
    assert lesson.loss_spread(table, "h") == pytest.approx({0: 0.2, 2: 0.05})
    assert lesson.loss_spread(table, "z") == pytest.approx({0: 0.3, 2: 0.0})
    with pytest.raises(ValueError, match="'space' parameter"):
        lesson.loss_spread(table, "x")
    with pytest.raises(ValueError, match="'table' parameter of loss_spread"):
        lesson.loss_spread({})


@pytest.mark.parametrize("name", list(lesson.ABLATIONS))
def test_build_ablation_changes_one_factor(name):
    method = lesson.build_ablation(name, width=4, dim=8, queue_size=64)
    if "no head" in name:
        assert isinstance(method.projector, nn.Identity)
    if name.startswith("BYOL"):
        assert method.use_predictor == ("no predictor" not in name)
        assert method.stop_gradient == ("no stop-gradient" not in name)
    if name.startswith("MoCo"):
        assert method.queue.shape[0] == (0 if "M = 0" in name else 64)
        assert method.momentum == (0.0 if "β = 0" in name else 0.99)


def test_covariance_spectrum_is_the_eigenvalues_of_the_covariance():
    z = torch.randn(50, 6, dtype=torch.float64) * torch.arange(1, 7) + 3
    expected = torch.linalg.eigvalsh(torch.cov(z.T)).flip(0)
    assert torch.allclose(lesson.covariance_spectrum(z), expected)


def test_head_depth_study_probes_h_and_z_and_depth_zero_has_z_equal_h(tiny):
    train_set, test_set = tiny
    table = lesson.head_depth_study(train_set, test_set, depths=(0, 2), mode="quick")
    assert set(table) == set(lesson.HEAD_LOSSES) and set(table["NT-Xent"]) == {0, 2}
    for runs in table.values():
        assert runs[0]["h"] == runs[0]["z"]
        assert all(0 <= runs[d][s] <= 1 for d in runs for s in "hz")
    assert lesson.head_depth_study(train_set, test_set, depths=(0, 2), mode="quick") == table  # cached


def test_random_encoder_probe_is_reproducible(tiny):
    train_set, test_set = tiny
    first = lesson.random_encoder_probe(train_set, test_set, mode="quick")
    assert first == lesson.random_encoder_probe(train_set, test_set, mode="quick")


def test_ablation_run_measures_before_training_and_after_every_epoch(tiny):
    train_set, test_set = tiny
    run = lesson.ablation_run("MoCo, no queue (M = 0)", train_set, test_set, mode="quick", seed=3)
    assert run.epochs == TINY["epochs"] and len(run.erank_z) == len(run.knn_accuracy) == TINY["epochs"] + 1
    assert all(s.shape == (TINY["dim"],) for s in run.spectra)
    torch.manual_seed(3)  # entry 0 is the untrained network with calibrated BatchNorm
    untrained = lesson.build_ablation("MoCo, no queue (M = 0)", width=4, dim=8, queue_size=64)
    measure.calibrate_batchnorm(untrained, train_set.images)
    z = measure.embed(untrained, test_set.images[: TINY["track"]], project=True)
    assert torch.allclose(run.spectra[0], lesson.covariance_spectrum(z), rtol=1e-4)
    assert not torch.allclose(run.spectra[-1], run.spectra[0], rtol=1e-2)  # training changed it
    assert 0 <= run.linear_accuracy <= 1


def test_batch_queue_study_counts_negatives_and_steps(tiny):
    train_set, test_set = tiny
    assert list(lesson.batch_queue_runs("quick")) == [
        "SimCLR N=16", "SimCLR N=32", "MoCo N=16 M=0 β=0.99", "MoCo N=16 M=32 β=0.99", "MoCo N=16 M=32 β=0",
        "MoCo N=16 M=64 β=0.99", "MoCo N=16 M=64 β=0",
    ]  # fmt: skip
    rows = lesson.batch_queue_study(train_set, test_set, mode="quick")
    assert rows["SimCLR N=16"]["negatives"] == 30 and rows["SimCLR N=16"]["steps"] == 2 * (96 // 16)
    assert rows["MoCo N=16 M=64 β=0"]["negatives"] == 64
    assert rows["MoCo N=16 M=0 β=0.99"]["negatives"] == 15  # no queue: the other keys of the batch
    assert all(0 <= r["linear_accuracy"] <= 1 for r in rows.values())


class _Disconnected(Exception):
    pass


_STUDIES = {  # study → a run of it with run_dir as the notebook calls it, its result in a comparable form
    "head depth": lambda tr, te, run_dir: lesson.head_depth_study(tr, te, depths=(0, 2), mode="quick",
                                                                  run_dir=run_dir),
    "ablations": lambda tr, te, run_dir: {
        name: lesson.ablation_run(name, tr, te, mode="quick", run_dir=run_dir).to_json()
        for name in ("SimCLR", "BYOL", "BYOL, no stop-gradient", "MoCo, no momentum (β = 0)")
    },
    "batch and queue": lambda tr, te, run_dir: {  # "seconds" is a wall time: it differs from run to run
        name: {k: v for k, v in row.items() if k != "seconds"}
        for name, row in lesson.batch_queue_study(tr, te, mode="quick", run_dir=run_dir).items()
    },
}  # fmt: skip


@pytest.mark.parametrize("study", list(_STUDIES))
def test_a_study_resumes_after_a_disconnect_and_trains_only_the_rest(tiny, tmp_path, monkeypatch, study):
    """Interrupted inside its (k + 1)-th run, a study run again in a new session with the same run_dir
    reads the k finished runs back and trains only the others; the result is the uninterrupted one."""
    train_set, test_set = tiny
    run_study, fit, calls, disconnect_at, k = _STUDIES[study], lesson.train.fit, [], [], 2

    def patched_fit(*args, **kwargs):
        calls.append(kwargs["batch_size"])
        if len(calls) in disconnect_at:
            raise _Disconnected
        return fit(*args, **kwargs)

    monkeypatch.setattr(lesson.train, "fit", patched_fit)
    expected = run_study(train_set, test_set, None)  # uninterrupted, nothing on disk
    runs = len(calls)
    assert runs > k + 1 and not any(tmp_path.iterdir())
    clear_cache()
    calls.clear()
    disconnect_at.append(k + 1)
    with pytest.raises(_Disconnected):
        run_study(train_set, test_set, tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == k  # every finished run on disk
    clear_cache()  # a new session: only the files are left
    calls.clear()
    disconnect_at.clear()
    assert run_study(train_set, test_set, tmp_path) == expected
    assert len(calls) == runs - k and len(list(tmp_path.glob("*.json"))) == runs
    clear_cache()
    calls.clear()
    run_study(train_set, test_set, tmp_path)  # a third session trains nothing
    assert calls == []


# ----------------------------------------------------------------------------- the check cells' effects


def _rows(**accuracy) -> dict:
    """batch_queue_study rows of TINY's names, every probe at 0.7 except the ``accuracy`` given."""
    names = [
        "SimCLR N=16",
        "SimCLR N=32",
        "MoCo N=16 M=0 β=0.99",
        "MoCo N=16 M=64 β=0.99",
        "MoCo N=16 M=64 β=0",
    ]
    return {n: {"linear_accuracy": accuracy.get(n, 0.7), "knn_accuracy": accuracy.get(n, 0.7)} for n in names}


def test_batch_queue_effects_are_the_taught_differences(tiny):
    effects = lesson.batch_queue_effects(
        _rows(**{"SimCLR N=16": 0.75, "MoCo N=16 M=64 β=0.99": 0.8, "MoCo N=16 M=0 β=0.99": 0.72}), "quick"
    )
    assert effects["knn: small − large batch"] == pytest.approx(0.05)
    assert effects["linear: queue − no queue"] == pytest.approx(0.08)
    assert effects["knn: β = 0.99 − β = 0"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "broken, effect",
    [
        ({"SimCLR N=32": 0.75}, "knn: small − large batch"),  # the rows swapped: the large batch wins
        ({}, "linear: queue − no queue"),  # the queue removed: M = 0 and the queue are the same run
        ({"MoCo N=16 M=64 β=0": 0.8}, "knn: β = 0.99 − β = 0"),  # momentum that buys nothing
    ],
)
def test_batch_queue_checks_fail_without_the_effect(tiny, broken, effect):
    effects = lesson.batch_queue_effects(_rows(**broken), "quick")
    with pytest.raises(AssertionError, match=f"{effect} = .*, expected > \\+0.010"):
        lesson.check_effect(effects, effect, margin=0.01)


def test_head_depth_effects_and_their_checks():
    table = {loss: {0: {"h": 0.5 + i / 10, "z": 0.5 + i / 10}, 2: {"h": 0.8, "z": 0.7},
                    3: {"h": 0.78, "z": 0.7}} for i, loss in enumerate(("a", "b", "c"))}  # fmt: skip
    effects = lesson.head_depth_effects(table, {"h": 0.6, "z": 0.5})
    assert effects == pytest.approx(
        {"trained − random": 0.2, "spread: no head − deepest": 0.2, "h − z (L ≥ 2)": 0.09}
    )
    lesson.check_effect(effects, "trained − random", margin=0.02)
    flat = {
        loss: {d: {"h": 0.7, "z": 0.7} for d in (0, 2, 3)} for loss in table
    }  # nothing learned, no head effect
    for name in effects:
        with pytest.raises(AssertionError, match="the effect this check teaches did not show"):
            lesson.check_effect(lesson.head_depth_effects(flat, {"h": 0.7}), name, margin=0.005)
    with pytest.raises(ValueError, match="'name' parameter of check_effect"):
        lesson.check_effect(effects, "no such effect", margin=0.0)


def test_ablation_effects_compare_each_ablation_with_its_reference():
    runs = {
        name: lesson.AblationRun(name, erank_z=[9.0, 8.0], erank_h=[9.0, 8.0]) for name in lesson.ABLATIONS
    }
    runs["BYOL, no stop-gradient"].erank_z[-1] = 3.0
    runs["SimCLR, no head"].erank_h[-1] = 6.0
    effects = lesson.ablation_effects(runs)
    assert effects["erank z: BYOL − no stop-gradient"] == 5.0 and effects["erank h: SimCLR − no head"] == 2.0
    lesson.check_effect(effects, "erank z: BYOL − no stop-gradient", margin=0.5)
    with pytest.raises(AssertionError, match="erank z: MoCo − β = 0 = \\+0.000"):  # β = 0 changed nothing
        lesson.check_effect(effects, "erank z: MoCo − β = 0", margin=0.5)


def test_probe_side_outcome_names_the_side_the_check_measures_and_explains_either_way(capsys):
    table = {loss: {0: {"h": 0.6, "z": 0.6}, 2: {"h": 0.8, "z": 0.7}, 3: {"h": 0.78, "z": 0.74}}
             for loss in ("a", "b")}  # fmt: skip
    effects = lesson.head_depth_effects(table, {"h": 0.6, "z": 0.5})
    answer, why = lesson.probe_side_outcome(effects)
    assert answer == "h" and why.startswith("The probe on h beat the probe on z by 0.070")
    assert "Chen et al. 2020" in why and "stops here" not in why
    assert compare_prediction("z", answer, lesson.PROBE_SIDES, why) is False
    assert "not what you predicted" in capsys.readouterr().out
    swapped = {loss: {d: {"h": r["z"], "z": r["h"]} for d, r in rows.items()} for loss, rows in table.items()}
    effects = lesson.head_depth_effects(swapped, {"h": 0.6, "z": 0.5})
    answer, why = lesson.probe_side_outcome(effects)
    assert answer == "z" and why.startswith("In this run the probe on z beat the probe on h by 0.070")
    assert "the check below stops here" in why
    with pytest.raises(AssertionError):  # ... and it does: the notebook's check on the same effects
        lesson.check_effect(effects, "h − z (L ≥ 2)", margin=0.0)
