"""margin_contrastive: hand-made points, the loop oracle, gradients and bad inputs."""

import oracles
import pytest
import torch

from edu_contrast.losses import margin_contrastive


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_hand_made_points():
    x1 = torch.zeros(4, 2, dtype=torch.float64)
    x2 = torch.tensor(
        [[3.0, 4.0], [0.3, 0.4], [0.3, 0.4], [3.0, 4.0]], dtype=torch.float64
    )  # d = 5, .5, .5, 5
    y = torch.tensor([1, 1, 0, 0])
    # positives cost d² (25, 0.25); negatives cost max(0, 2 − d)² (2.25, 0).
    expected = (25 + 0.25 + 2.25 + 0) / 4
    assert margin_contrastive(x1, x2, y, margin=2.0).item() == pytest.approx(expected, rel=1e-12)


def test_default_margin_is_one():
    x1, x2 = torch.zeros(1, 1), torch.full((1, 1), 0.25)
    assert margin_contrastive(x1, x2, [0]).item() == pytest.approx(0.75**2)


@pytest.mark.parametrize("margin", [0.5, 1.0, 3.0])
def test_matches_oracle(margin):
    x1, x2 = randn(10, 3, seed=1), randn(10, 3, seed=2)
    y = torch.tensor([1, 0] * 5)
    got = margin_contrastive(x1, x2, y, margin=margin).item()
    assert got == pytest.approx(oracles.margin_contrastive(x1, x2, y, margin), rel=1e-12)


def test_labels_may_be_bool_int_float_or_a_list():
    x1, x2 = randn(4, 3, seed=3), randn(4, 3, seed=4)
    values = [True, False, False, True]
    reference = margin_contrastive(x1, x2, torch.tensor(values))
    for y in (torch.tensor(values, dtype=torch.long), torch.tensor(values, dtype=torch.float32), values):
        assert margin_contrastive(x1, x2, y).item() == reference.item()


def test_uses_raw_euclidean_distance_not_the_hypersphere():
    x1, x2 = randn(4, 3, seed=5), randn(4, 3, seed=6)
    y = torch.ones(4)
    # a positive pair costs d², so scaling both points by 2 multiplies the loss by 4
    assert margin_contrastive(2 * x1, 2 * x2, y).item() == pytest.approx(
        4 * margin_contrastive(x1, x2, y).item()
    )


def test_symmetric_in_the_two_points():
    x1, x2, y = randn(6, 3, seed=7), randn(6, 3, seed=8), torch.tensor([0, 1] * 3)
    assert margin_contrastive(x1, x2, y).item() == pytest.approx(
        margin_contrastive(x2, x1, y).item(), rel=1e-12
    )


def test_gradcheck_float64_and_finite_gradient_at_zero_distance():
    x1 = randn(5, 3, seed=9).requires_grad_()
    x2 = randn(5, 3, seed=10).requires_grad_()
    y = torch.tensor([1, 0, 1, 0, 0])
    assert torch.autograd.gradcheck(lambda a, b: margin_contrastive(a, b, y, margin=3.0), (x1, x2))
    same = randn(2, 3, seed=11).requires_grad_()
    loss = margin_contrastive(same, same.detach().clone(), torch.tensor([0, 1]))
    loss.backward()
    assert loss.item() == pytest.approx(0.5) and bool(torch.isfinite(same.grad).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_finite(dtype):
    x1 = randn(8, 4, seed=12, dtype=dtype).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    loss = margin_contrastive(x1, x2, torch.tensor([0, 1] * 4))
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(x1.grad).all()) and x1.grad.dtype == dtype


GOOD = randn(4, 3, seed=13)
Y = torch.tensor([1, 0, 1, 0])


@pytest.mark.parametrize("margin", [0, -1.0, float("nan")])
def test_bad_margin(margin):
    with pytest.raises(ValueError, match="'margin' parameter of margin_contrastive"):
        margin_contrastive(GOOD, GOOD, Y, margin=margin)


def test_bad_points_and_labels():
    where = "margin_contrastive"
    with pytest.raises(ValueError, match=f"'x2' parameter of {where}.*same shape"):
        margin_contrastive(GOOD, GOOD[:3], Y)
    with pytest.raises(ValueError, match=f"'x1' parameter of {where}.*2-D"):
        margin_contrastive(GOOD[0], GOOD, Y)
    bad = GOOD.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match=f"'x2' parameter of {where}.*finite"):
        margin_contrastive(GOOD, bad, Y)
    with pytest.raises(ValueError, match=f"'is_positive' parameter of {where}.*4 pair labels"):
        margin_contrastive(GOOD, GOOD, Y[:3])
    with pytest.raises(ValueError, match=f"'is_positive' parameter of {where}.*0/1"):
        margin_contrastive(GOOD, GOOD, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(TypeError, match=f"'is_positive' parameter of {where}"):
        margin_contrastive(GOOD, GOOD, "yes")
