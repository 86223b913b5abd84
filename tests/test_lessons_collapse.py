"""Notebook 04's lesson: collapses made by construction, and the ablation grid built, named and cached."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from torch import nn

from edu_contrast import augment, data, diagnostics, methods
from edu_contrast.lessons import collapse as lesson
from edu_contrast.lessons._cache import cached_names, clear_cache


@pytest.fixture(scope="module")
def digits():
    """Small stratified digits subsets: 96 training and 40 held-out images."""
    g = torch.Generator().manual_seed(0)
    train = data.load_dataset("digits", "train").subset(96, g)
    return train, data.load_dataset("digits", "test").subset(40, g)


# ----------------------------------------------------------------------------- the three signatures


def test_synthetic_embeddings_have_the_advertised_effective_rank():
    ranks = {
        kind: diagnostics.effective_rank(lesson.synthetic_embeddings(kind, rank=4)) for kind in lesson.KINDS
    }
    assert ranks["healthy"] > 55  # of 64
    assert 3.5 < ranks["dimensional"] < 5.5
    assert ranks["complete"] < 2
    spectrum = diagnostics.singular_spectrum(lesson.synthetic_embeddings("dimensional", rank=4))
    assert spectrum[3] / spectrum[4] > 50  # the cliff after σ_4
    assert lesson.synthetic_embeddings("healthy", n=10, dim=3).shape == (10, 3)


def test_synthetic_embeddings_checks_the_kind():
    with pytest.raises(ValueError, match="'kind' parameter of synthetic_embeddings must be one of"):
        lesson.synthetic_embeddings("partial")


# ----------------------------------------------------------------------------- the collapse grid


def test_ablation_names_and_switch_checks():
    assert lesson.ablation_name("simclr") == "simclr · healthy"
    assert lesson.ablation_name("simclr", projector=False, batch_size=32) == (
        "simclr · projector=off · batch_size=32"
    )
    assert lesson.ablation_name("simclr", projector=True) == "simclr · healthy"  # defaults are not repeated
    with pytest.raises(ValueError, match="'family' parameter of ablation_name must be one of"):
        lesson.ablation_name("byol")  # methods without negatives are notebook 06's
    with pytest.raises(ValueError, match=r"switches of 'align_uniform' among \['uniformity'\]"):
        lesson.ablation_name("align_uniform", projector=False)
    with pytest.raises(ValueError, match="'augmentation' parameter of ablation_name must be one of"):
        lesson.ablation_name("simclr", augmentation="strong")


def test_build_ablation_wires_the_switches():
    simclr = lesson.build_ablation("simclr", width=4, hidden_dim=16, out_dim=8)
    assert isinstance(simclr, methods.SimCLR) and simclr.temperature == 0.5
    assert not isinstance(simclr.projector, nn.Identity)
    no_head = lesson.build_ablation("simclr", width=4, hidden_dim=16, out_dim=8, projector=False)
    assert isinstance(no_head.projector, nn.Identity)
    align = lesson.build_ablation("align_uniform", width=4, hidden_dim=16, out_dim=8, uniformity=False)
    assert isinstance(align, methods.AlignUniform) and align.weight == 0.0
    assert lesson.build_ablation("align_uniform", width=4, hidden_dim=16, out_dim=8).weight == 1.0
    # Every setting starts from the same encoder weights; another seed gives others.
    assert torch.equal(align.encoder.features[0][0].weight, no_head.encoder.features[0][0].weight)
    other = lesson.build_ablation("simclr", width=4, hidden_dim=16, out_dim=8, seed=1)
    assert not torch.equal(other.encoder.features[0][0].weight, simclr.encoder.features[0][0].weight)


def test_run_ablation_trains_once_per_setting(digits):
    train, test = digits
    clear_cache()
    kwargs = {"epochs": 1, "width": 4, "hidden_dim": 16, "out_dim": 8, "track_size": 20}
    run = lesson.run_ablation("simclr", train, test, batch_size=32, augmentation="weak", **kwargs)
    assert run.name == "simclr · augmentation=weak · batch_size=32"
    assert run.config["batch_size"] == 32 and run.config["augment_config"].crop_scale == (0.8, 1.0)
    assert [h["epoch"] for h in run.history] == [0, 1] and "erank_z" in run.final
    assert lesson.run_ablation("simclr", train, test, batch_size=32, augmentation="weak", **kwargs) is run
    assert len(cached_names()) == 1
    with pytest.raises(ValueError, match="'batch_size' parameter of run_ablation must be one of 256, 32"):
        lesson.run_ablation("simclr", train, test, batch_size=64, **kwargs)
    clear_cache()


# ----------------------------------------------------------------------------- section 4's checks


def _run(erank_z, erank_h, knn=(0.5, 0.5)):
    """A stand-in for a ``Run``: only the history (epoch 0 and the last) that the effects read."""
    history = [{"erank_z": z, "erank_h": h, "knn_accuracy": k} for z, h, k in zip(erank_z, erank_h, knn)]
    return lesson.Run("run", history, None, torch.zeros(1), torch.zeros(1), torch.zeros(1))


def test_one_factor_effects_compare_each_space_with_itself():
    runs = {
        "baseline": _run((50.0, 20.0), (80.0, 48.0), knn=(0.7, 0.8)),  # z keeps 40 %, h keeps 60 %
        "no projector": _run((80.0, 36.0), (80.0, 36.0), knn=(0.7, 0.72)),
        "weak augmentation": _run((50.0, 25.0), (80.0, 40.0)),
    }
    effects = lesson.one_factor_effects(runs)
    assert effects == pytest.approx(
        {
            "projector: erank kept, h − z": 0.2,
            "no projector: erank(h) lost": 0.25,
            "no projector: kNN on h lost": 0.08,
            "weak augmentation: erank(z) gained": 0.25,
            "kNN on h: baseline − random encoder": 0.1,
        }
    )
    for name in effects:
        lesson.check_effect(effects, name, margin=0.05)
    # z at 20 of 64 and h at 48 of 128 are about as spread for their size: a raw erank_z < erank_h, the
    # replaced check, says nothing; relative to its own start each space can go either way.
    runs["baseline"] = _run((50.0, 30.0), (80.0, 40.0), knn=(0.7, 0.7))  # z keeps 60 %, h 50 %
    with pytest.raises(AssertionError, match="projector: erank kept, h − z = -0.100"):
        lesson.check_effect(lesson.one_factor_effects(runs), "projector: erank kept, h − z", margin=0.05)
    with pytest.raises(
        ValueError, match="'runs' parameter of one_factor_effects.*no \\['weak augmentation'\\]"
    ):
        lesson.one_factor_effects({"baseline": runs["baseline"], "no projector": runs["no projector"]})


def test_one_factor_checks_fail_on_the_runs_without_the_effect(digits):
    """Real (tiny) runs as the broken inputs: the no-projector run in the baseline's place (z = h, so the
    projector cannot take a larger share of the rank), and the baseline as its own ablation."""
    train, test = digits
    clear_cache()
    kwargs = {"epochs": 1, "width": 4, "hidden_dim": 16, "out_dim": 8, "track_size": 20, "batch_size": 32}
    baseline = lesson.run_ablation("simclr", train, test, **kwargs)  # 96 images: batches of 32
    no_projector = lesson.run_ablation("simclr", train, test, projector=False, **kwargs)
    broken = {"baseline": no_projector, "no projector": no_projector, "weak augmentation": no_projector}
    effects = lesson.one_factor_effects(broken)
    assert effects["projector: erank kept, h − z"] == 0.0
    for name in (
        "projector: erank kept, h − z",
        "no projector: erank(h) lost",
        "no projector: kNN on h lost",
        "weak augmentation: erank(z) gained",
    ):
        with pytest.raises(AssertionError, match=re.escape(name) + " = [+-]0.000"):
            lesson.check_effect(effects, name, margin=0.05)
    same = lesson.one_factor_effects(
        {"baseline": baseline, "no projector": baseline, "weak augmentation": baseline}
    )
    assert same["no projector: erank(h) lost"] == 0.0 and same["weak augmentation: erank(z) gained"] == 0.0
    clear_cache()


@pytest.mark.parametrize("side", [8, 16, 28, 32])
def test_the_weak_recipe_changes_the_strength_alone(side):
    default, weak = augment.AugmentConfig.for_size(side), lesson.weak_recipe(side)
    assert weak.crop_scale[0] > default.crop_scale[0] and weak.jitter_p == weak.grayscale_p == 0.0
    changed = {f.name for f in dataclasses.fields(weak) if getattr(weak, f.name) != getattr(default, f.name)}
    assert changed == {"crop_scale", "jitter_p", "grayscale_p"}  # flips, blur, … as the default has them
