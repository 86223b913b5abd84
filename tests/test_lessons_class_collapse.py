"""Notebook 14: coarse labels, the class-conditional mask, the runs and the effects its checks read."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import data, methods
from edu_contrast.lessons import _cache
from edu_contrast.lessons import class_collapse as L


def test_coarse_labels_map_each_fine_class_to_its_group():
    groups = L.COARSE_GROUPS["fashion-mnist"]
    fine = torch.arange(10)
    expected = torch.tensor([0, 1, 0, 0, 0, 2, 0, 2, 3, 2])  # tops, trouser, footwear, bag
    assert torch.equal(L.coarse_labels(fine, groups), expected)
    for name, groups in L.COARSE_GROUPS.items():
        top = 10
        coarse = L.coarse_labels(torch.arange(top), groups)
        assert sorted(set(coarse.tolist())) == list(range(len(groups))), name  # every group used, no -1


def test_coarse_labels_refuse_missing_and_shared_classes():
    with pytest.raises(ValueError, match=r"no group for classes \[2\]"):
        L.coarse_labels(torch.tensor([0, 1, 2]), {"a": (0,), "b": (1,)})
    with pytest.raises(ValueError, match="class 1 in two groups"):
        L.coarse_labels(torch.tensor([0, 1]), {"a": (0, 1), "b": (1,)})


def test_with_coarse_labels_shares_the_images_and_names_the_groups():
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    fine = data.ImageTensors(images, torch.tensor([0, 1, 2, 3]), [str(c) for c in range(4)])
    coarse = L.with_coarse_labels(fine, {"low": (0, 1), "high": (2, 3)})
    assert coarse.images is fine.images and coarse.classes == ["low", "high"]
    assert coarse.labels.tolist() == [0, 0, 1, 1] and fine.labels.tolist() == [0, 1, 2, 3]


def test_the_mask_holds_only_the_anchors_own_class_without_itself_and_its_positive():
    labels = torch.tensor([0, 1, 0])
    mask = L.class_conditional_negatives(labels)  # views [a0 a1 a2 | b0 b1 b2]
    assert mask[0].nonzero().flatten().tolist() == [2, 5]  # a2, b2: the other image of class 0
    assert mask[1].sum() == 0  # class 1 has no other image
    assert mask[3].nonzero().flatten().tolist() == [2, 5]
    assert torch.equal(mask, mask.T)


def test_build_gives_each_method_the_same_initial_encoder():
    simclr, supcon = L.build("SimCLR", width=4), L.build("SupCon", width=4)
    combined = L.build("SupCon + cNCE", alpha=0.5, width=4)
    assert isinstance(simclr, methods.SimCLR) and isinstance(supcon, methods.SupCon)
    assert isinstance(combined, methods.SupConCNCE) and combined.alpha == 0.5
    for a, b in zip(supcon.encoder.parameters(), combined.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="'name' parameter of build"):
        L.build("BYOL")


def study(supcon_knn=0.80, combined_knn=0.92, supcon_spread=0.03, combined_spread=0.3, combined_coarse=0.96):
    def scores(coarse, knn, spread):
        return {"coarse_accuracy": coarse, "fine_accuracy": 0.9, "fine_knn": 0.9, "fine_accuracy_z": 0.9,
                "fine_knn_z": knn, "spread": spread}  # fmt: skip

    return {
        "SimCLR": scores(0.90, 0.95, 0.8),
        "SupCon": scores(0.97, supcon_knn, supcon_spread),
        "α = 0.5": scores(0.5, 0.1, 0.1),  # not the largest α: never read by the effects
        "α = 2": scores(combined_coarse, combined_knn, combined_spread),
    }


RANDOM = {"coarse_accuracy": 0.85, "spread": 0.6}


def test_effects_compare_supcon_with_simclr_and_the_largest_alpha():
    effects = L.collapse_effects(study(), RANDOM)
    assert effects == pytest.approx({"collapse": 0.57, "fine_lost": 0.15, "fine_regained": 0.12,
                                     "spread_regained": 0.27, "coarse_kept": -0.01})  # fmt: skip
    for name in ("collapse", "fine_lost", "fine_regained", "spread_regained"):
        L.check_effect(effects, name, margin=0.05)
    L.check_effect(effects, "coarse_kept", margin=-0.03)


def test_the_checks_fail_when_supcon_does_not_collapse_or_the_term_does_nothing():
    no_collapse = L.collapse_effects(study(supcon_knn=0.95, supcon_spread=0.7), RANDOM)
    for name in ("collapse", "fine_lost"):
        with pytest.raises(AssertionError, match=name):
            L.check_effect(no_collapse, name, margin=0.05)
    no_help = L.collapse_effects(study(combined_knn=0.80, combined_spread=0.03), RANDOM)
    for name in ("fine_regained", "spread_regained"):
        with pytest.raises(AssertionError, match=name):
            L.check_effect(no_help, name, margin=0.05)
    coarse_lost = L.collapse_effects(study(combined_coarse=0.80), RANDOM)
    with pytest.raises(AssertionError, match="coarse_kept"):
        L.check_effect(coarse_lost, "coarse_kept", margin=-0.03)


def test_alpha_curve_sorts_by_alpha_and_needs_supcon():
    alphas, values = L.alpha_curve(study(), "spread")
    assert alphas == [0.0, 0.5, 2.0] and values == [0.03, 0.1, 0.3]
    with pytest.raises(ValueError, match="'metric' parameter"):
        L.alpha_curve(study(), "loss")
    with pytest.raises(ValueError, match="'study' parameter of collapse_effects"):
        L.collapse_effects({"SimCLR": {}, "SupCon": {}}, {})


def test_the_study_trains_every_run_once_and_scores_it(monkeypatch):
    """A tiny study end to end (2 epochs on 96 random images): every run scored, kept for the session."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (96, 1, 8, 8), generator=g, dtype=torch.uint8)
    labels = torch.arange(96) % 4
    fine = data.ImageTensors(images, labels, list("abcd"))
    groups = {"ab": (0, 1), "cd": (2, 3)}
    datasets = {"train": fine, "test": fine, "coarse_train": L.with_coarse_labels(fine, groups),
                "coarse_test": L.with_coarse_labels(fine, groups), "groups": groups}  # fmt: skip
    monkeypatch.setitem(L._SCALES, "quick", {**L._SCALES["quick"], "epochs": 2, "batch_size": 32, "width": 4})
    _cache.clear_cache()
    first = L.collapse_study(datasets, mode="quick", seed=0, alphas=(0.0, 1.0))
    assert list(first) == ["SimCLR", "SupCon", "α = 1"]
    for scores in first.values():
        assert set(scores) == set(L.METRICS) and all(0 <= v <= 1 for v in scores.values())
    assert L.collapse_study(datasets, mode="quick", seed=0, alphas=(0.0, 1.0))["SupCon"] is first["SupCon"]
    random = L.random_encoder_scores(datasets, mode="quick", seed=0)
    assert set(random) == set(L.METRICS)
    _cache.clear_cache()


class _Disconnected(Exception):
    pass


def test_a_study_resumes_after_a_disconnect_and_trains_only_the_rest(tmp_path, monkeypatch):
    """Interrupted inside its (k + 1)-th run, the study run again in a new session with the same run_dir
    reads the k finished runs back and trains only the others; the result is the uninterrupted one."""
    g = torch.Generator().manual_seed(1)
    fine = data.ImageTensors(torch.randint(0, 256, (64, 1, 8, 8), generator=g, dtype=torch.uint8),
                             torch.arange(64) % 4, list("abcd"))  # fmt: skip
    groups = {"ab": (0, 1), "cd": (2, 3)}
    coarse = L.with_coarse_labels(fine, groups)
    datasets = {"train": fine, "test": fine, "coarse_train": coarse, "coarse_test": coarse, "groups": groups}
    monkeypatch.setitem(L._SCALES, "quick", {**L._SCALES["quick"], "epochs": 1, "batch_size": 32, "width": 4})
    fit, calls, disconnect_at, k = L.train.fit, [], [], 2

    def patched_fit(method, *args, **kwargs):
        calls.append(type(method).__name__)
        if len(calls) in disconnect_at:
            raise _Disconnected
        return fit(method, *args, **kwargs)

    monkeypatch.setattr(L.train, "fit", patched_fit)
    alphas = (0.0, 0.5, 2.0)
    _cache.clear_cache()
    expected = L.collapse_study(datasets, mode="quick", alphas=alphas)  # uninterrupted, nothing on disk
    assert len(calls) == 4 and not any(tmp_path.iterdir())
    _cache.clear_cache()
    calls.clear()
    disconnect_at.append(k + 1)
    with pytest.raises(_Disconnected):
        L.collapse_study(datasets, mode="quick", alphas=alphas, run_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == k  # every finished run on disk
    _cache.clear_cache()  # a new session: only the files are left
    calls.clear()
    disconnect_at.clear()
    assert L.collapse_study(datasets, mode="quick", alphas=alphas, run_dir=tmp_path) == expected
    assert calls == ["SupConCNCE", "SupConCNCE"]  # α = 0.5 and α = 2 only: SimCLR and SupCon were read back
    _cache.clear_cache()
    calls.clear()
    L.collapse_study(datasets, mode="quick", alphas=alphas, run_dir=tmp_path)  # a third session
    assert calls == []
    _cache.clear_cache()


def test_scale_names_the_modes():
    assert L.scale("lab")["dataset"] == "fashion-mnist" and L.scale("full")["dataset"] == "cifar10"
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        L.scale("huge")
