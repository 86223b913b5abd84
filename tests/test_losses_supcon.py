"""supcon against the loop oracle, its special cases (NT-Xent, distinct labels) and bad inputs."""

import math

import oracles
import pytest
import torch

from edu_contrast.losses import SupConLoss, nt_xent, supcon


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("views", [1, 2, 3])
@pytest.mark.parametrize("temperature, base_temperature", [(0.07, 0.07), (0.5, 0.07), (0.2, 1.0)])
def test_matches_oracle_with_labels(views, temperature, base_temperature):
    features = randn(6, views, 4, seed=views)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    got = supcon(features, labels, temperature=temperature, base_temperature=base_temperature).item()
    expected = oracles.supcon(features, labels, temperature, base_temperature)
    assert got == pytest.approx(expected, rel=1e-10)


def test_matches_oracle_without_labels():
    features = randn(5, 3, 4, seed=4)
    assert supcon(features, temperature=0.3).item() == pytest.approx(
        oracles.supcon(features, None, 0.3, 0.07), rel=1e-10
    )


def test_anchors_without_positives_are_left_out():
    # one view per sample: the anchors labelled 2 and 3 have no positive and must not count.
    features = randn(4, 1, 3, seed=5)
    with_loners = supcon(features, torch.tensor([0, 0, 2, 3]), temperature=0.5, base_temperature=0.5)
    # anchors 0 and 1 each have one positive (each other) and three others in the denominator
    z = torch.nn.functional.normalize(features[:, 0], dim=1)
    s = z @ z.T / 0.5
    expected = (
        sum(-(s[i, 1 - i] - torch.logsumexp(s[i, [k for k in range(4) if k != i]], 0)) for i in (0, 1)) / 2
    )
    assert with_loners.item() == pytest.approx(expected.item(), rel=1e-12)


def test_self_supervised_two_views_equals_nt_xent():
    z1, z2 = randn(6, 5, seed=6), randn(6, 5, seed=7)
    features = torch.stack([z1, z2], dim=1)  # (N, 2, d)
    for temperature in (0.1, 0.5):
        got = supcon(features, temperature=temperature, base_temperature=temperature).item()
        assert got == pytest.approx(nt_xent(z1, z2, temperature=temperature).item(), rel=1e-12)


def test_all_distinct_labels_equal_the_self_supervised_case():
    features = randn(5, 3, 4, seed=8)
    distinct = torch.tensor([7, 3, 0, 11, 5])
    assert supcon(features, distinct).item() == pytest.approx(supcon(features).item(), rel=1e-12)


def test_renaming_classes_and_reordering_samples_changes_nothing():
    features, labels = randn(6, 2, 4, seed=9), torch.tensor([0, 1, 0, 2, 1, 0])
    reference = supcon(features, labels).item()
    assert supcon(features, labels * 10 + 3).item() == pytest.approx(reference, rel=1e-12)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(0))
    assert supcon(features[perm], labels[perm]).item() == pytest.approx(reference, rel=1e-12)
    assert supcon(features, labels.tolist()).item() == pytest.approx(reference, rel=1e-12)


def test_labels_change_the_loss():
    features = randn(6, 2, 4, seed=10)
    assert supcon(features, torch.tensor([0, 0, 0, 1, 1, 1])).item() != pytest.approx(supcon(features).item())


def test_all_equal_features_give_log_nv_minus_1_scaled_by_the_temperature_ratio():
    features = randn(1, 1, 6, seed=11).expand(4, 3, 6)
    got = supcon(features, torch.tensor([0, 1, 0, 1]), temperature=0.1, base_temperature=0.2).item()
    assert got == pytest.approx(0.5 * math.log(4 * 3 - 1), rel=1e-9)


def test_base_temperature_only_scales():
    features, labels = randn(4, 2, 3, seed=12), torch.tensor([0, 1, 1, 0])
    a = supcon(features, labels, temperature=0.2, base_temperature=0.2).item()
    b = supcon(features, labels, temperature=0.2, base_temperature=0.8).item()
    assert b == pytest.approx(a * 0.25, rel=1e-12)


def test_invariant_to_the_norm_of_each_view():
    features, labels = randn(4, 2, 3, seed=13), torch.tensor([0, 1, 1, 0])
    scale = torch.rand(4, 2, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 5 + 0.2
    assert supcon(features * scale, labels).item() == pytest.approx(
        supcon(features, labels).item(), rel=1e-12
    )


def test_gradcheck_float64():
    features = randn(4, 2, 3, seed=14).requires_grad_()
    labels = torch.tensor([0, 1, 1, 0])
    assert torch.autograd.gradcheck(lambda f: supcon(f, labels, temperature=0.3), (features,))
    assert torch.autograd.gradcheck(lambda f: supcon(f, temperature=0.3), (features,))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("identical", [False, True])
def test_half_precision_is_finite_at_temperature_0_01(dtype, identical):
    base = randn(16, 1, 8, seed=15, dtype=dtype)
    features = base.expand(16, 2, 8).clone() if identical else randn(16, 2, 8, seed=16, dtype=dtype)
    features.requires_grad_()
    for labels in (None, torch.arange(16) % 3):
        features.grad = None
        loss = supcon(features, labels, temperature=0.01)
        loss.backward()
        assert torch.isfinite(loss) and bool(torch.isfinite(features.grad).all())
        assert features.grad.dtype == dtype
        reference = supcon(features.detach().double(), labels, temperature=0.01).item()
        assert loss.item() == pytest.approx(reference, rel=0.05, abs=0.05)


def test_module():
    features, labels = randn(4, 2, 3, seed=17), torch.tensor([0, 1, 1, 0])
    module = SupConLoss(temperature=0.1, base_temperature=0.2)
    assert (
        module(features, labels).item()
        == supcon(features, labels, temperature=0.1, base_temperature=0.2).item()
    )
    assert "base_temperature=0.2" in repr(module)


GOOD = randn(4, 2, 3, seed=18)


@pytest.mark.parametrize("name", ["temperature", "base_temperature"])
@pytest.mark.parametrize("value", [0, -0.5, float("nan")])
def test_bad_temperatures(name, value):
    with pytest.raises(ValueError, match=f"'{name}' parameter of supcon"):
        supcon(GOOD, **{name: value})


def test_bad_features():
    with pytest.raises(ValueError, match=r"'features' parameter of supcon.*3-D.*\(batch, views, dim\)"):
        supcon(GOOD[:, 0])
    with pytest.raises(ValueError, match="'features' parameter of supcon.*at least 2 rows"):
        supcon(GOOD[:1])
    with pytest.raises(ValueError, match="'features' parameter of supcon.*views >= 2"):
        supcon(GOOD[:, :1])
    bad = GOOD.clone()
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="'features' parameter of supcon.*finite"):
        supcon(bad)


def test_bad_labels():
    with pytest.raises(ValueError, match="'labels' parameter of supcon.*4 labels"):
        supcon(GOOD, torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="'labels' parameter of supcon.*4 labels"):
        supcon(GOOD, torch.tensor([[0, 1], [0, 1]]))
    with pytest.raises(TypeError, match="'labels' parameter of supcon.*integer"):
        supcon(GOOD, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="'labels' parameter of supcon.*shared by at least two views"):
        supcon(GOOD[:, :1], torch.tensor([0, 1, 2, 3]))
