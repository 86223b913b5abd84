"""The notebooks' method variants compute the losses they claim: AlignUniform, Generalized, BYOLAblation,
without_projector; build_method knows them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses, methods
from edu_contrast.methods import AlignUniform, BYOLAblation, Generalized, without_projector
from edu_contrast.models import SmallConvNet

HEAD = {"hidden_dim": 16, "out_dim": 5}


def _encoder(seed=0, width=4):
    torch.manual_seed(seed)
    return SmallConvNet(1, feature_dim=8, width=width)


def _views(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)


# ----------------------------------------------------------------------------- AlignUniform


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_align_uniform_is_alignment_plus_weighted_uniformity(weight):
    method = AlignUniform(_encoder(), **HEAD, weight=weight, alpha=1.5, t=3.0)
    x1, x2 = _views()
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


# ----------------------------------------------------------------------------- Generalized


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
    # −(1/2N) Σ s_{ii⁺}/τ over the 2N anchors
    torch.testing.assert_close(method.loss(x1, x2), -cosine.mean() / 0.5)


def test_generalized_swd_is_the_loss_of_the_projections():
    method = Generalized(_encoder(), **HEAD, distribution="swd", prior="hypercube", weight=2.0)
    x1, x2 = _views()
    torch.manual_seed(5)  # the SWD draws its directions and prior samples from the global generator
    loss = method.loss(x1, x2)
    z1, z2 = method.project_pair(x1, x2)
    torch.manual_seed(5)
    expected = losses.generalized_contrastive(z1, z2, distribution="swd", prior="hypercube", weight=2.0)
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="'prior' parameter of Generalized must be one of"):
        Generalized(_encoder(), **HEAD, prior="cube")


# ----------------------------------------------------------------------------- BYOLAblation


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
    t = ablation.target(torch.cat([x1, x2]))  # (12, 5): targets of views 1 then views 2
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


# ----------------------------------------------------------------------------- without_projector and building


def test_without_projector_trains_on_the_encoder_features():
    method = without_projector(methods.SimCLR(_encoder(), **HEAD))
    x, _ = _views()
    torch.testing.assert_close(method.project(x), method.embed(x))
    with pytest.raises(ValueError, match="which has a 'predictor'"):
        without_projector(methods.BYOL(_encoder(), **HEAD, predictor_hidden_dim=16))
    with pytest.raises(TypeError, match="'method' parameter of without_projector"):
        without_projector(nn.Linear(2, 2))


@pytest.mark.parametrize(
    ("name", "cls", "hyper"),
    [
        ("align_uniform", AlignUniform, {"weight": 0.0}),
        ("generalized", Generalized, {"distribution": "swd", "prior": "normal"}),
        ("byol_ablation", BYOLAblation, {"predictor": False, "stop_gradient": False}),
    ],
)
def test_build_method_builds_the_variants_by_name(name, cls, hyper):
    method = methods.build_method(name, in_channels=1, width=4, **HEAD, **hyper)
    assert type(method) is cls and method.spec["name"] == name
    assert all(method.spec[k] == v for k, v in hyper.items())
    x1, x2 = _views()
    assert torch.isfinite(method.loss(x1, x2))


# ----------------------------------------------------------------------------- MoCo without queue or momentum


def _moco(**kwargs):
    return methods.MoCo(_encoder(), **HEAD, temperature=0.2, **kwargs)


def test_moco_without_queue_contrasts_against_the_other_keys_of_the_batch():
    for symmetric in (False, True):
        method = _moco(queue_size=0, symmetric=symmetric).eval()  # eval: BatchNorm the same in every call
        x1, x2 = _views()
        q1, q2, k1, k2 = method.project(x1), method.project(x2), method.keys(x1), method.keys(x2)
        expected = losses.info_nce(q1, k2, None, temperature=0.2)  # M = N − 1 in-batch keys
        if symmetric:
            expected = 0.5 * (expected + losses.info_nce(q2, k1, None, temperature=0.2))
        assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)


def test_moco_without_queue_trains_and_keeps_nothing():
    method = _moco(queue_size=0).train()
    loss = method.loss(*_views())  # training: the enqueue of an empty queue is skipped
    loss.backward()
    assert torch.isfinite(loss) and method.queue.shape == (0, HEAD["out_dim"])
    assert method.encoder.features[0][0].weight.grad.abs().sum() > 0


def test_moco_without_queue_differs_from_a_queue_of_random_keys():
    x1, x2 = _views()
    with torch.no_grad():
        assert not torch.isclose(
            _moco(queue_size=0).eval().loss(x1, x2), _moco(queue_size=8).eval().loss(x1, x2)
        )


def test_moco_momentum_zero_copies_the_query_network_after_a_step():
    method = _moco(queue_size=8, momentum=0.0)
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(0.1)
    method.on_step_end(0.5)
    for key, query in zip(method.key_encoder.parameters(), method.encoder.parameters(), strict=True):
        assert torch.equal(key, query)
    keep = _moco(queue_size=8, momentum=0.99)
    with torch.no_grad():
        for p in keep.encoder.parameters():
            p.add_(0.1)
    keep.on_step_end(0.5)
    assert not torch.equal(next(keep.key_encoder.parameters()), next(keep.encoder.parameters()))


def test_moco_refuses_a_negative_queue_size():
    with pytest.raises(ValueError, match="'queue_size'.*>= 0"):
        _moco(queue_size=-1)
