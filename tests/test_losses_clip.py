"""clip and siglip: loop oracles, closed forms, open_clip, gradcheck, bad inputs; the scale modules."""

import math

import pytest
import torch
import torch.nn.functional as F

from edu_contrast.losses import CLIPLoss, LogitScale, SigLIPLoss, clip, siglip


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- loop oracles, written from the papers on Python floats -------------------------------------------


def _cosines(image, text):
    """s_ij = x̂_i · ŷ_j as a list of lists of Python floats."""
    rows_x, rows_y = image.detach().double().tolist(), text.detach().double().tolist()
    unit = [[v / math.sqrt(sum(w * w for w in r)) for v in r] for r in rows_x + rows_y]
    x, y = unit[: len(rows_x)], unit[len(rows_x) :]
    return [[sum(a * b for a, b in zip(xi, yj)) for yj in y] for xi in x]


def _log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _log_sigmoid(u):
    return -math.log1p(math.exp(-u)) if u >= 0 else u - math.log1p(math.exp(u))


def oracle_clip(image, text, t):
    """Radford et al. 2021, Figure 3: (CE over rows + CE over columns of t·s) / 2, labels arange(N)."""
    s = _cosines(image, text)
    n = len(s)
    image_to_text = sum(-(t * s[i][i] - _log_sum_exp([t * s[i][j] for j in range(n)])) for i in range(n))
    text_to_image = sum(-(t * s[j][j] - _log_sum_exp([t * s[i][j] for i in range(n)])) for j in range(n))
    return (image_to_text / n + text_to_image / n) / 2


def oracle_siglip(image, text, t, b):
    """Zhai et al. 2023, Eq. 1: −(1/N) Σ_i Σ_j log σ(z_ij (t·s_ij + b)), z_ij = 1 if i = j else −1."""
    s = _cosines(image, text)
    n = len(s)
    total = 0.0
    for i in range(n):
        for j in range(n):
            z = 1.0 if i == j else -1.0
            total += _log_sigmoid(z * (t * s[i][j] + b))
    return -total / n


@pytest.mark.parametrize("t", [1.0, 1 / 0.07, 100.0])
def test_clip_matches_oracle(t):
    image, text = randn(7, 5, seed=1), randn(7, 5, seed=2)
    assert clip(image, text, logit_scale=t).item() == pytest.approx(oracle_clip(image, text, t), abs=1e-5)
    assert clip(image, text, logit_scale=t).item() == pytest.approx(oracle_clip(image, text, t), rel=1e-10)


@pytest.mark.parametrize("t, b", [(10.0, -10.0), (1.0, 0.0), (50.0, 3.0)])
def test_siglip_matches_oracle(t, b):
    image, text = randn(6, 4, seed=3), randn(6, 4, seed=4)
    got = siglip(image, text, logit_scale=t, logit_bias=b).item()
    assert got == pytest.approx(oracle_siglip(image, text, t, b), rel=1e-10, abs=1e-12)


def test_default_scales_are_the_contract():
    image, text = randn(5, 3, seed=5), randn(5, 3, seed=6)
    assert clip(image, text).item() == pytest.approx(oracle_clip(image, text, 1 / 0.07), rel=1e-10)
    assert siglip(image, text).item() == pytest.approx(oracle_siglip(image, text, 10.0, -10.0), rel=1e-10)


# --- closed forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 16])
def test_all_equal_embeddings(n):
    z = randn(1, 6, seed=n).expand(n, 6)  # s_ij = 1 for every pair
    assert clip(z, z, logit_scale=30.0).item() == pytest.approx(math.log(n), rel=1e-12)
    t, b = 10.0, -7.0
    expected = -_log_sigmoid(t + b) - (n - 1) * _log_sigmoid(-(t + b))
    assert siglip(z, z, logit_scale=t, logit_bias=b).item() == pytest.approx(expected, rel=1e-12)
    # at SigLIP's initialisation t + b = 0, so every pair costs log 2: L = N·log 2
    assert siglip(z, z).item() == pytest.approx(n * math.log(2), rel=1e-12)


@pytest.mark.parametrize("t", [1.0, 10.0, 100.0])
def test_identical_orthogonal_pairs(t):
    n = 4
    z = torch.eye(n, 6, dtype=torch.float64)  # s = I: matches at 1, every mismatch at 0
    expected_clip = -t + math.log(math.exp(t) + n - 1)
    assert clip(z, z, logit_scale=t).item() == pytest.approx(expected_clip, rel=1e-12, abs=1e-300)
    b = -2.0
    expected_siglip = -_log_sigmoid(t + b) - (n - 1) * _log_sigmoid(-b)
    assert siglip(z, z, logit_scale=t, logit_bias=b).item() == pytest.approx(expected_siglip, rel=1e-12)


def test_perfectly_separated_pairs_at_a_large_scale_cost_almost_nothing():
    z = torch.eye(8, dtype=torch.float64)
    assert clip(z, z, logit_scale=100.0).item() < 1e-40
    assert clip(z, z, logit_scale=1.0).item() > 0.5  # the same geometry at t = 1 still costs: t matters
    assert siglip(z, z, logit_scale=100.0, logit_bias=-50.0).item() < 1e-20


# --- symmetries and invariances -------------------------------------------------------------------


@pytest.mark.parametrize("loss", [clip, siglip])
def test_symmetric_in_image_and_text(loss):
    image, text = randn(6, 4, seed=7), randn(6, 4, seed=8)
    assert loss(image, text).item() == pytest.approx(loss(text, image).item(), rel=1e-12)


@pytest.mark.parametrize("loss", [clip, siglip])
def test_invariant_to_row_norms_and_to_permuting_pairs(loss):
    image, text = randn(6, 4, seed=9), randn(6, 4, seed=10)
    g = torch.Generator().manual_seed(0)
    scale_x = torch.rand(6, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    scale_y = torch.rand(6, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    reference = loss(image, text).item()
    assert loss(image * scale_x, text * scale_y).item() == pytest.approx(reference, rel=1e-12)
    perm = torch.randperm(6, generator=g)
    assert loss(image[perm], text[perm]).item() == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize("loss", [clip, siglip])
def test_unpairing_the_batch_raises_the_loss(loss):
    image = randn(8, 16, seed=11)
    text = image + 0.05 * randn(8, 16, seed=12)
    assert loss(image, text).item() < loss(image, text.roll(1, dims=0)).item()


# --- open_clip as a peer --------------------------------------------------------------------------


def test_agrees_with_open_clip_in_float64():
    open_clip_loss = pytest.importorskip(
        "open_clip.loss", reason="open-clip-torch is the test-only peer: pip install open-clip-torch"
    )
    image, text = randn(9, 6, seed=13), randn(9, 6, seed=14)
    # open_clip's losses take features already normalised; ours normalise themselves.
    x, y = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    for t in (1 / 0.07, 3.0, 100.0):
        theirs = open_clip_loss.ClipLoss()(x, y, t)
        assert clip(image, text, logit_scale=t).item() == pytest.approx(theirs.item(), abs=1e-5, rel=1e-10)
    for t, b in ((10.0, -10.0), (2.0, 0.5)):
        # open_clip's SigLipLoss also sums over all N² pairs and divides by the batch size N (Eq. 1)
        theirs = open_clip_loss.SigLipLoss()(x, y, t, b)
        got = siglip(image, text, logit_scale=t, logit_bias=b)
        assert got.item() == pytest.approx(theirs.item(), abs=1e-5, rel=1e-10)


def test_gradients_agree_with_open_clip_in_float64():
    open_clip_loss = pytest.importorskip(
        "open_clip.loss", reason="open-clip-torch is the test-only peer: pip install open-clip-torch"
    )

    def grads(fn):
        image, text = randn(5, 4, seed=15).requires_grad_(), randn(5, 4, seed=16).requires_grad_()
        t = torch.tensor(7.0, dtype=torch.float64, requires_grad=True)
        b = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
        fn(image, text, t, b).backward()
        return [image.grad, text.grad, t.grad, b.grad]

    def ours_siglip(image, text, t, b):
        return siglip(image, text, logit_scale=t, logit_bias=b)

    def theirs_siglip(image, text, t, b):
        return open_clip_loss.SigLipLoss()(F.normalize(image, dim=-1), F.normalize(text, dim=-1), t, b)

    for ours, theirs in zip(grads(ours_siglip), grads(theirs_siglip)):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)

    def ours_clip(image, text, t, b):
        return clip(image, text, logit_scale=t) + 0 * b

    def theirs_clip(image, text, t, b):
        return open_clip_loss.ClipLoss()(F.normalize(image, dim=-1), F.normalize(text, dim=-1), t) + 0 * b

    for ours, theirs in zip(grads(ours_clip), grads(theirs_clip)):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


# --- gradients and low precision ------------------------------------------------------------------


def test_gradcheck_float64_through_embeddings_scale_and_bias():
    image, text = randn(4, 3, seed=17).requires_grad_(), randn(4, 3, seed=18).requires_grad_()
    t = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(-2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y, s: clip(x, y, logit_scale=s), (image, text, t))
    assert torch.autograd.gradcheck(
        lambda x, y, s, c: siglip(x, y, logit_scale=s, logit_bias=c), (image, text, t, b)
    )


def test_the_log_scale_of_the_modules_receives_the_gradient():
    image, text = randn(6, 4, seed=19), randn(6, 4, seed=20)
    loss_module = CLIPLoss()
    loss_module(image, text).backward()
    t = torch.tensor(1 / 0.07, dtype=torch.float64, requires_grad=True)
    clip(image, text, logit_scale=t).backward()
    # t = e^{t'} so ∂L/∂t' = t · ∂L/∂t
    expected = (t * t.grad).item()
    assert loss_module.logit_scale.log_scale.grad.item() == pytest.approx(expected, rel=1e-5)
    sig = SigLIPLoss()
    sig(image, text).backward()
    assert sig.logit_scale.log_scale.grad.item() != 0.0 and sig.logit_bias.grad.item() != 0.0


def _finite_loss_and_grad(fn, image, text):
    image, text = image.detach().clone().requires_grad_(), text.detach().clone().requires_grad_()
    loss = fn(image, text)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss), loss
    for x in (image, text):
        assert x.grad is not None and x.grad.dtype == x.dtype and bool(torch.isfinite(x.grad).all())
    return loss


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("identical", [False, True])
def test_half_precision_is_finite_at_scale_100(dtype, identical):
    image = randn(16, 8, seed=21, dtype=dtype)
    text = image.clone() if identical else randn(16, 8, seed=22, dtype=dtype)
    for fn in (
        lambda x, y: clip(x, y, logit_scale=100.0),
        lambda x, y: siglip(x, y, logit_scale=100.0, logit_bias=-10.0),
        lambda x, y: siglip(x, y, logit_scale=100.0, logit_bias=60.0),
    ):
        loss = _finite_loss_and_grad(fn, image, text)
        reference = fn(image.double(), text.double())
        assert loss.item() == pytest.approx(reference.item(), rel=0.05, abs=0.05)


# --- the modules ----------------------------------------------------------------------------------


def test_logit_scale_starts_at_clip_and_siglip_values():
    assert LogitScale().log_scale.item() == pytest.approx(math.log(1 / 0.07), rel=1e-6)
    assert LogitScale()().item() == pytest.approx(1 / 0.07, rel=1e-6)
    sig = SigLIPLoss()
    assert sig.logit_scale.log_scale.item() == pytest.approx(math.log(10), rel=1e-6)
    assert sig.logit_bias.item() == -10.0
    image, text = randn(5, 3, seed=23), randn(5, 3, seed=24)
    assert sig(image, text).item() == pytest.approx(siglip(image, text).item(), rel=1e-6)
    assert CLIPLoss()(image, text).item() == pytest.approx(clip(image, text).item(), rel=1e-6)
    assert {name for name, _ in sig.named_parameters()} == {"logit_scale.log_scale", "logit_bias"}


def test_logit_scale_is_clamped_at_100_as_in_open_clip():
    scale = LogitScale()
    with torch.no_grad():
        scale.log_scale.fill_(7.0)  # as if an optimiser step overshot: e^7 ≈ 1097
    assert scale().item() == pytest.approx(100.0, rel=1e-6)  # the forward never exceeds t_max
    scale.clamp_()  # open_clip's in-place clamp after optimizer.step()
    assert scale.log_scale.item() == pytest.approx(math.log(100), rel=1e-6)
    with torch.no_grad():
        scale.log_scale.fill_(-1.0)
    assert scale.clamp_().log_scale.item() == 0.0  # the lower bound t' ≥ 0, i.e. t ≥ 1
    assert "max_scale=100" in repr(scale)


# --- bad inputs -----------------------------------------------------------------------------------

GOOD = randn(4, 3, seed=25)


@pytest.mark.parametrize("fn", [clip, siglip])
@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf"), torch.tensor(-2.0)])
def test_bad_logit_scale(fn, scale):
    with pytest.raises(ValueError, match=rf"The 'logit_scale' parameter of {fn.__name__} must be"):
        fn(GOOD, GOOD, logit_scale=scale)


@pytest.mark.parametrize("bias", [float("nan"), float("inf"), torch.tensor(float("-inf"))])
def test_bad_logit_bias(bias):
    with pytest.raises(ValueError, match="The 'logit_bias' parameter of siglip must be a finite real number"):
        siglip(GOOD, GOOD, logit_bias=bias)
    with pytest.raises(TypeError, match="'logit_bias' parameter of siglip"):
        siglip(GOOD, GOOD, logit_bias="-10")
    with pytest.raises(TypeError, match="'logit_bias' parameter of siglip"):
        siglip(GOOD, GOOD, logit_bias=torch.zeros(2))


@pytest.mark.parametrize("fn", [clip, siglip])
def test_bad_embeddings(fn):
    where = fn.__name__
    with pytest.raises(ValueError, match=rf"'text' parameter of {where} must be the same shape as 'image'"):
        fn(GOOD, GOOD[:3])  # batch sizes differ
    with pytest.raises(ValueError, match=rf"'text' parameter of {where} must be the same shape"):
        fn(GOOD, randn(4, 5, seed=26))  # dimensions differ
    with pytest.raises(ValueError, match=rf"'image' parameter of {where} must be a 2-D tensor"):
        fn(GOOD[None], GOOD)
    bad = GOOD.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=rf"'image' parameter of {where} must be finite"):
        fn(bad, GOOD)
    bad[1, 2] = float("inf")
    with pytest.raises(ValueError, match=rf"'text' parameter of {where} must be finite"):
        fn(GOOD, bad)
    with pytest.raises(TypeError, match=rf"'image' parameter of {where} must be a torch.Tensor"):
        fn(GOOD.tolist(), GOOD)


def test_clip_needs_two_pairs_but_siglip_takes_one():
    with pytest.raises(ValueError, match="'image' parameter of clip must be a tensor with at least 2 rows"):
        clip(GOOD[:1], GOOD[:1])
    one = siglip(GOOD[:1], GOOD[:1], logit_scale=10.0, logit_bias=-10.0).item()
    assert one == pytest.approx(-_log_sigmoid(10.0 - 10.0), rel=1e-12)  # s = 1: −log σ(t + b)


@pytest.mark.parametrize("init, match", [(0.5, "in \\[1, max_scale=100\\]"), (200.0, "in \\[1"), (0, "> 0")])
def test_bad_logit_scale_init(init, match):
    with pytest.raises(ValueError, match=rf"'init' parameter of LogitScale must be {match}"):
        LogitScale(init)


def test_bad_siglip_loss_init_bias():
    with pytest.raises(ValueError, match="'init_bias' parameter of SigLIPLoss must be a finite real number"):
        SigLIPLoss(init_bias=float("nan"))
