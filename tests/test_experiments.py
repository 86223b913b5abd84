"""Experiment runners of notebooks 03 and 04: the ablation methods compute the losses they claim, the
BatchNorm calibration and the geometry record measure what they say, and runs are cached by name."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import data, diagnostics, experiments, losses, methods
from edu_contrast.experiments import AlignUniform, BYOLAblation, Generalized, Run
from edu_contrast.models import SmallConvNet


def _encoder(seed=0, width=4):
    torch.manual_seed(seed)
    return SmallConvNet(1, feature_dim=8, width=width)


def _views(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


HEAD = {"hidden_dim": 16, "out_dim": 5}


@pytest.fixture(scope="module")
def digits():
    """Small stratified digits subsets: 96 training and 40 held-out images."""
    g = torch.Generator().manual_seed(0)
    return data.load_dataset("digits", "train").subset(96, g), data.load_dataset("digits", "test").subset(
        40, g
    )


# ----------------------------------------------------------------------------- the ablation methods


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_align_uniform_is_alignment_plus_weighted_uniformity(weight):
    method = AlignUniform(_encoder(), **HEAD, weight=weight, alpha=1.5, t=3.0)
    x1, x2 = _views()
    torch.manual_seed(0)
    loss = method.loss(x1, x2)
    z1, z2 = method.project_pair(x1, x2)  # same train-mode batch statistics as inside loss
    expected = losses.alignment(z1, z2, alpha=1.5) + weight * 0.5 * (
        losses.uniformity(z1, t=3.0) + losses.uniformity(z2, t=3.0)
    )
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert all(p.grad is not None for p in method.encoder.parameters())


def test_align_uniform_rejects_negative_weight():
    with pytest.raises(ValueError, match="'weight' parameter of AlignUniform must be >= 0"):
        AlignUniform(_encoder(), **HEAD, weight=-1.0)


def test_generalized_with_weight_one_is_simclr():
    simclr = methods.SimCLR(_encoder(), **HEAD, temperature=0.3)
    generalized = Generalized(_encoder(), **HEAD, temperature=0.3, weight=1.0)
    generalized.load_state_dict(simclr.state_dict())
    x1, x2 = _views()
    torch.testing.assert_close(generalized.loss(x1, x2), simclr.loss(x1, x2))


def test_generalized_weight_zero_is_alignment_only():
    method = Generalized(_encoder(), **HEAD, temperature=0.5, weight=0.0)
    x1, x2 = _views()
    z1, z2 = method.project_pair(x1, x2)
    cosine = F.cosine_similarity(z1, z2, dim=1)
    torch.testing.assert_close(
        method.loss(x1, x2), -cosine.mean() / 0.5
    )  # −(1/2N) Σ s_{ii⁺}/τ over 2N anchors


def _byol_pair(**switches):
    reference = methods.BYOL(_encoder(), **HEAD, predictor_hidden_dim=16)
    ablation = BYOLAblation(_encoder(), **HEAD, predictor_hidden_dim=16, **switches)
    return reference, ablation


def test_byol_ablation_with_both_switches_is_byol():
    reference, ablation = _byol_pair()
    ablation.load_state_dict(reference.state_dict())
    x1, x2 = _views()
    torch.testing.assert_close(ablation.loss(x1, x2), reference.loss(x1, x2))


def test_byol_ablation_without_predictor_regresses_z_on_the_target():
    _, ablation = _byol_pair(predictor=False)
    assert isinstance(ablation.predictor, nn.Identity)
    x1, x2 = _views()
    z1, z2 = ablation.project_pair(x1, x2)
    t = ablation.target(torch.cat([x1, x2]))
    expected = losses.byol(z1, t[6:]) + losses.byol(z2, t[:6])
    torch.testing.assert_close(ablation.loss(x1, x2), expected)


def test_byol_ablation_without_stop_gradient_ignores_the_target_and_back_propagates_both_views():
    _, ablation = _byol_pair(predictor=False, stop_gradient=False)
    x1, x2 = _views()
    loss = ablation.loss(x1, x2)
    with torch.no_grad():
        for p in ablation.target_projector.parameters():
            p.add_(1.0)  # a different target network changes nothing: it is not used
    torch.testing.assert_close(ablation.loss(x1, x2), loss)
    z1, z2 = ablation.project_pair(x1, x2)
    torch.testing.assert_close(loss, 2 * losses.alignment(z1, z2))  # the symmetric cosine loss = 2 L_align
    # The gradient reaches the second view's branch: with stop-gradient it would not.
    z2_leaf = z2.detach().requires_grad_()
    (losses.alignment(z1.detach(), z2_leaf) + losses.alignment(z2_leaf, z1.detach())).backward()
    assert z2_leaf.grad.abs().sum() > 0


def test_byol_ablation_checks_its_switches():
    with pytest.raises(TypeError, match="'predictor' parameter of BYOLAblation must be True or False"):
        BYOLAblation(_encoder(), **HEAD, predictor="no")


def test_without_projector_trains_on_the_encoder_features():
    method = experiments.without_projector(methods.SimCLR(_encoder(), **HEAD))
    x, _ = _views()
    torch.testing.assert_close(method.project(x), method.embed(x))
    with pytest.raises(ValueError, match="which has a 'predictor'"):
        experiments.without_projector(methods.BYOL(_encoder(), **HEAD, predictor_hidden_dim=16))
    with pytest.raises(TypeError, match="'method' parameter of without_projector"):
        experiments.without_projector(nn.Linear(2, 2))


# ----------------------------------------------------------------------------- measuring


def test_calibrate_batchnorm_sets_the_true_statistics_and_nothing_else():
    method = methods.SimCLR(_encoder(), **HEAD)
    images = (torch.rand(50, 1, 8, 8) * 255).to(torch.uint8)
    weights = {k: v.clone() for k, v in method.named_parameters()}
    method.eval()
    experiments.calibrate_batchnorm(method, images, batch_size=25)  # the mean of 2 equal batches' means
    first_conv, first_bn = method.encoder.features[0][0], method.encoder.features[0][1]
    with torch.no_grad():
        activations = first_conv(images.float() / 255)  # (50, C, 8, 8)
    torch.testing.assert_close(first_bn.running_mean, activations.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert first_bn.momentum == 0.1 and not method.training
    assert all(torch.equal(v, weights[k]) for k, v in method.named_parameters())


def test_uncalibrated_eval_mode_looks_collapsed_and_calibration_undoes_it(digits):
    train, test = digits
    method = methods.SimCLR(_encoder(width=8), hidden_dim=32, out_dim=3)
    naive = experiments.measure_geometry(method, test.images)
    experiments.calibrate_batchnorm(method, train.images)
    calibrated = experiments.measure_geometry(method, test.images)
    assert naive["pair_distance"] < 0.05 < 0.5 < calibrated["pair_distance"]


def test_measure_geometry_is_consistent_repeatable_and_leaves_the_rng_alone(digits):
    _, test = digits
    method = methods.SimCLR(_encoder(), **HEAD)
    state = torch.get_rng_state()
    first = experiments.measure_geometry(method, test.images, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    second = experiments.measure_geometry(method, test.images, seed=3)
    assert first["alignment"] == second["alignment"]
    z, h = first["z"], first["h"]
    assert z.shape == (40, 5) and h.shape == (40, 8)
    assert first["uniformity"] == pytest.approx(diagnostics.uniformity(z))
    assert first["effective_rank_z"] == pytest.approx(diagnostics.effective_rank(z))
    assert first["effective_rank_h"] == pytest.approx(diagnostics.effective_rank(h))
    assert first["std_z"] == pytest.approx(float(z.double().std(dim=0).mean()))
    u = F.normalize(z.double(), dim=1)
    pairs = [float((u[i] - u[j]).pow(2).sum()) for i, j in itertools.combinations(range(40), 2)]
    assert first["pair_distance"] == pytest.approx(sum(pairs) / len(pairs))


def test_measure_geometry_checks_its_images():
    method = methods.SimCLR(_encoder(), **HEAD)
    with pytest.raises(TypeError, match="'images' parameter of measure_geometry must be a uint8 tensor"):
        experiments.measure_geometry(method, torch.rand(4, 1, 8, 8))
    with pytest.raises(ValueError, match="at least 2 images"):
        experiments.measure_geometry(method, torch.zeros(1, 1, 8, 8, dtype=torch.uint8))


# ----------------------------------------------------------------------------- a run and the cache


def test_track_run_records_every_epoch(digits):
    train, test = digits
    method = methods.SimCLR(_encoder(), hidden_dim=16, out_dim=3)
    run = experiments.track_run(method, train, test, epochs=2, batch_size=32, name="tiny", track_size=30)
    assert isinstance(run, Run) and run.name == "tiny"
    assert [h["epoch"] for h in run.history] == [0, 1, 2]
    for key in (
        "loss",
        "knn_accuracy",
        "alignment",
        "uniformity",
        "pair_distance",
        "std_z",
        "effective_rank_z",
        "effective_rank_h",
        "knn_z",
    ):
        assert all(key in h for h in run.history), key
    assert len(run.snapshots) == 3 and run.snapshots[0].shape == (30, 3)
    torch.testing.assert_close(run.snapshots[0].norm(dim=1), torch.ones(30))
    torch.testing.assert_close(run.snapshots[-1], F.normalize(run.z, dim=1))
    assert run.h.shape == (30, 8) and torch.equal(run.labels, test.labels[:30])
    assert run.trajectory()[0] == (run.history[0]["alignment"], run.history[0]["uniformity"])
    assert run.summary()["linear_accuracy"] == run.linear_accuracy
    assert not experiments.track_run(
        methods.SimCLR(_encoder(), **HEAD), train, test, epochs=0, batch_size=32
    ).snapshots


def test_cached_run_computes_once():
    experiments.clear_cached_runs()
    calls = []
    fake = Run(
        "x", [{"epoch": 0}], None, torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)
    )

    def compute():
        calls.append(1)
        return fake

    assert experiments.cached_run("a", compute) is fake
    assert experiments.cached_run("a", compute) is fake
    assert calls == [1] and experiments.cached_run_names() == ["a"]
    experiments.clear_cached_runs()
    assert experiments.cached_run_names() == []
    with pytest.raises(
        TypeError, match="'compute' parameter of cached_run must be a function returning a Run"
    ):
        experiments.cached_run("b", lambda: 3)
    with pytest.raises(TypeError, match="'name' parameter of cached_run"):
        experiments.cached_run("", compute)


# ----------------------------------------------------------------------------- the collapse grid


def test_ablation_names_and_switch_checks():
    assert experiments.ablation_name("byol") == "byol · healthy"
    assert experiments.ablation_name("byol", predictor=False, stop_gradient=False) == (
        "byol · predictor=off · stop_gradient=off"
    )
    assert experiments.ablation_name("byol", predictor=True) == "byol · healthy"  # defaults are not repeated
    with pytest.raises(ValueError, match="'family' parameter of ablation_name must be one of"):
        experiments.ablation_name("simsiam")
    with pytest.raises(ValueError, match=r"switches of 'vicreg' among \['covariance', 'variance'\]"):
        experiments.ablation_name("vicreg", predictor=False)
    with pytest.raises(ValueError, match="'base_momentum' parameter of ablation_name must be one of"):
        experiments.ablation_name("byol", base_momentum=0.5)


def test_build_ablation_wires_the_switches():
    vicreg = experiments.build_ablation("vicreg", width=4, hidden_dim=16, out_dim=8, covariance=False)
    assert isinstance(vicreg, methods.VICReg) and vicreg.var_weight == 25.0 and vicreg.cov_weight == 0.0
    byol = experiments.build_ablation(
        "byol", width=4, hidden_dim=16, out_dim=8, stop_gradient=False, base_momentum=1.0
    )
    assert byol.stop_gradient is False and byol.use_predictor is True and byol.base_momentum == 1.0
    simclr = experiments.build_ablation("simclr", width=4, hidden_dim=16, out_dim=8, projector=False)
    assert isinstance(simclr.projector, nn.Identity)
    align = experiments.build_ablation("align_uniform", width=4, hidden_dim=16, out_dim=8, uniformity=False)
    assert align.weight == 0.0
    # Every setting starts from the same encoder weights.
    assert torch.equal(vicreg.encoder.features[0][0].weight, simclr.encoder.features[0][0].weight)


def test_run_ablation_trains_once_per_setting(digits):
    train, test = digits
    experiments.clear_cached_runs()
    kwargs = {"epochs": 1, "width": 4, "hidden_dim": 16, "out_dim": 8, "track_size": 20}
    run = experiments.run_ablation("simclr", train, test, batch_size=32, augmentation="weak", **kwargs)
    assert run.name == "simclr · augmentation=weak · batch_size=32"
    assert run.config["batch_size"] == 32 and run.config["augment"].crop_scale == (0.8, 1.0)
    assert (
        experiments.run_ablation("simclr", train, test, batch_size=32, augmentation="weak", **kwargs) is run
    )
    assert len(experiments.cached_run_names()) == 1
    experiments.clear_cached_runs()
