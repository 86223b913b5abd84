"""Notebook 04's lesson: collapses made by construction, and the ablation grid built, named and cached."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edu_contrast import data, diagnostics, methods
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
    assert lesson.ablation_name("byol") == "byol · healthy"
    assert lesson.ablation_name("byol", predictor=False, stop_gradient=False) == (
        "byol · predictor=off · stop_gradient=off"
    )
    assert lesson.ablation_name("byol", predictor=True) == "byol · healthy"  # defaults are not repeated
    with pytest.raises(ValueError, match="'family' parameter of ablation_name must be one of"):
        lesson.ablation_name("simsiam")
    with pytest.raises(ValueError, match=r"switches of 'vicreg' among \['covariance', 'variance'\]"):
        lesson.ablation_name("vicreg", predictor=False)
    with pytest.raises(ValueError, match="'base_momentum' parameter of ablation_name must be one of"):
        lesson.ablation_name("byol", base_momentum=0.5)


def test_build_ablation_wires_the_switches():
    vicreg = lesson.build_ablation("vicreg", width=4, hidden_dim=16, out_dim=8, covariance=False)
    assert isinstance(vicreg, methods.VICReg) and vicreg.var_weight == 25.0 and vicreg.cov_weight == 0.0
    byol = lesson.build_ablation(
        "byol", width=4, hidden_dim=16, out_dim=8, stop_gradient=False, base_momentum=1.0
    )
    assert byol.stop_gradient is False and byol.use_predictor is True and byol.base_momentum == 1.0
    assert byol.spec["name"] == "byol_ablation" and byol.spec["stop_gradient"] is False
    simclr = lesson.build_ablation("simclr", width=4, hidden_dim=16, out_dim=8, projector=False)
    assert isinstance(simclr.projector, nn.Identity)
    align = lesson.build_ablation("align_uniform", width=4, hidden_dim=16, out_dim=8, uniformity=False)
    assert align.weight == 0.0
    # Every setting starts from the same encoder weights.
    assert torch.equal(vicreg.encoder.features[0][0].weight, simclr.encoder.features[0][0].weight)


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
