"""info_nce, nt_xent and dcl against loop oracles, closed forms, invariances and bad inputs."""

import math

import oracles
import pytest
import torch

from edu_contrast.losses import InfoNCELoss, NTXentLoss, dcl, info_nce, nt_xent


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- against the loop oracles ------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_nt_xent_matches_oracle(temperature):
    z1, z2 = randn(6, 5, seed=1), randn(6, 5, seed=2)
    got = nt_xent(z1, z2, temperature=temperature).item()
    assert got == pytest.approx(oracles.nt_xent(z1, z2, temperature), rel=1e-10)


@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
def test_dcl_matches_oracle(temperature):
    z1, z2 = randn(6, 5, seed=3), randn(6, 5, seed=4)
    got = dcl(z1, z2, temperature=temperature).item()
    assert got == pytest.approx(oracles.dcl(z1, z2, temperature), rel=1e-10)


@pytest.mark.parametrize("mode", ["in_batch", "queue", "per_query"])
@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_info_nce_matches_oracle(mode, temperature):
    q, k = randn(5, 4, seed=5), randn(5, 4, seed=6)
    negatives = {"in_batch": None, "queue": randn(7, 4, seed=7), "per_query": randn(5, 3, 4, seed=8)}[mode]
    got = info_nce(q, k, negatives, temperature=temperature).item()
    assert got == pytest.approx(oracles.info_nce(q, k, negatives, temperature), rel=1e-10)


def test_default_temperatures_are_the_contract():
    z1, z2 = randn(4, 3, seed=9), randn(4, 3, seed=10)
    assert nt_xent(z1, z2).item() == pytest.approx(oracles.nt_xent(z1, z2, 0.5), rel=1e-10)
    assert dcl(z1, z2).item() == pytest.approx(oracles.dcl(z1, z2, 0.1), rel=1e-10)
    assert info_nce(z1, z2).item() == pytest.approx(oracles.info_nce(z1, z2, None, 0.1), rel=1e-10)


# --- closed forms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 16])
def test_all_equal_embeddings_give_log_2n_minus_1_for_nt_xent_and_log_2n_minus_2_for_dcl(n):
    z = randn(1, 7, seed=n).expand(n, 7)
    assert nt_xent(z, z, temperature=0.1).item() == pytest.approx(math.log(2 * n - 1), rel=1e-9)
    assert dcl(z, z, temperature=0.1).item() == pytest.approx(math.log(2 * n - 2), rel=1e-9)


@pytest.mark.parametrize("m", [1, 4, 64])
def test_info_nce_with_negatives_equal_to_the_positive_gives_log_m_plus_1(m):
    q, k = randn(3, 6, seed=11), randn(3, 6, seed=12)
    per_query = k[:, None, :].expand(3, m, 6)  # M copies of each query's own positive
    assert info_nce(q, k, per_query, temperature=0.3).item() == pytest.approx(math.log(m + 1), rel=1e-9)
    key = randn(1, 6, seed=13)
    shared_key, queue = key.expand(3, 6), key.expand(m, 6)  # every positive and queued key the same
    assert info_nce(q, shared_key, queue, temperature=0.3).item() == pytest.approx(math.log(m + 1), rel=1e-9)


@pytest.mark.parametrize("temperature", [0.1, 1.0])
def test_orthogonal_samples_with_identical_views(temperature):
    n = 4
    z = torch.eye(n, 6, dtype=torch.float64)  # s_ii⁺ = 1, every other pair orthogonal (s = 0)
    inv = 1 / temperature
    expected_nt_xent = -inv + math.log(math.exp(inv) + 2 * n - 2)
    assert nt_xent(z, z, temperature=temperature).item() == pytest.approx(expected_nt_xent, rel=1e-12)
    assert dcl(z, z, temperature=temperature).item() == pytest.approx(-inv + math.log(2 * n - 2), rel=1e-12)
    expected_info_nce = -inv + math.log(math.exp(inv) + n - 1)
    assert info_nce(z, z, temperature=temperature).item() == pytest.approx(expected_info_nce, rel=1e-12)


def test_orthogonal_views_and_antipodal_negatives():
    # positives orthogonal (s = 0) and the in-batch negative antipodal (s = −1): ℓ = log(1 + e^{−1/τ}).
    q = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    k = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    # query 0 vs key 1 is s = 0 too, so ℓ = log 2 for both queries.
    assert info_nce(q, k, temperature=0.2).item() == pytest.approx(math.log(2), rel=1e-12)
    queue = -q  # each query's negative points away from it: s = −1
    expected = math.log(1 + math.exp(-1 / 0.2))
    per_query = queue[:, None, :]  # (2, 1, 2)
    assert info_nce(q, k, per_query, temperature=0.2).item() == pytest.approx(expected, rel=1e-12)


# --- symmetries and invariances -------------------------------------------------------------------


@pytest.mark.parametrize("loss", [nt_xent, dcl])
def test_symmetric_in_the_two_views(loss):
    z1, z2 = randn(6, 4, seed=14), randn(6, 4, seed=15)
    assert loss(z1, z2).item() == pytest.approx(loss(z2, z1).item(), rel=1e-12)


@pytest.mark.parametrize("loss", [nt_xent, dcl, info_nce])
def test_invariant_to_row_norms_and_to_permuting_samples(loss):
    z1, z2 = randn(6, 4, seed=16), randn(6, 4, seed=17)
    scale1 = torch.rand(6, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10 + 0.1
    scale2 = torch.rand(6, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 10 + 0.1
    reference = loss(z1, z2).item()
    assert loss(z1 * scale1, z2 * scale2).item() == pytest.approx(reference, rel=1e-12)
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(2))
    assert loss(z1[perm], z2[perm]).item() == pytest.approx(reference, rel=1e-12)


def test_nt_xent_is_not_invariant_to_unpairing_the_views():
    z1, z2 = randn(6, 4, seed=18), randn(6, 4, seed=19)
    assert nt_xent(z1, z2).item() != pytest.approx(nt_xent(z1, z2.roll(1, dims=0)).item(), rel=1e-3)


def test_aligned_views_give_a_lower_loss_than_random_ones():
    z1 = randn(8, 16, seed=20)
    noisy = z1 + 0.05 * randn(8, 16, seed=21)
    for loss in (nt_xent, dcl, info_nce):
        assert loss(z1, noisy).item() < loss(z1, randn(8, 16, seed=22)).item()


# --- the three negative modes of info_nce ---------------------------------------------------------


def test_info_nce_in_batch_equals_per_query_negatives_built_from_other_rows():
    q, k = randn(5, 3, seed=23), randn(5, 3, seed=24)
    others = torch.stack([torch.cat([k[:i], k[i + 1 :]]) for i in range(5)])  # (5, 4, 3)
    assert info_nce(q, k, others).item() == pytest.approx(info_nce(q, k).item(), rel=1e-12)


def test_info_nce_shared_queue_equals_its_per_query_repetition():
    q, k, queue = randn(5, 3, seed=25), randn(5, 3, seed=26), randn(9, 3, seed=27)
    repeated = queue[None].expand(5, 9, 3)  # (5, 9, 3)
    assert info_nce(q, k, queue).item() == pytest.approx(info_nce(q, k, repeated).item(), rel=1e-12)


# --- gradients and low precision ------------------------------------------------------------------


def test_gradcheck_float64():
    z1 = randn(4, 3, seed=28).requires_grad_()
    z2 = randn(4, 3, seed=29).requires_grad_()
    neg2, neg3 = randn(5, 3, seed=30).requires_grad_(), randn(4, 2, 3, seed=31).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, temperature=0.3), (z1, z2))
    assert torch.autograd.gradcheck(lambda a, b: dcl(a, b, temperature=0.3), (z1, z2))
    assert torch.autograd.gradcheck(lambda a, b: info_nce(a, b, temperature=0.3), (z1, z2))
    assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, c, temperature=0.3), (z1, z2, neg2))
    assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, c, temperature=0.3), (z1, z2, neg3))


def _finite_loss_and_grad(loss_fn, *inputs):
    inputs = [x.detach().clone().requires_grad_() for x in inputs]
    loss = loss_fn(*inputs)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss), loss
    for x in inputs:
        assert x.grad is not None and x.grad.dtype == x.dtype
        assert bool(torch.isfinite(x.grad).all())
    return loss


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("identical", [False, True])
def test_half_precision_is_finite_at_temperature_0_01(dtype, identical):
    z1 = randn(16, 8, seed=32, dtype=dtype)
    z2 = z1.clone() if identical else randn(16, 8, seed=33, dtype=dtype)
    negatives = randn(16, 5, 8, seed=34, dtype=dtype)
    queue = z2[:3].clone() if identical else randn(10, 8, seed=35, dtype=dtype)
    for fn, args in [
        (nt_xent, (z1, z2)),
        (dcl, (z1, z2)),
        (info_nce, (z1, z2)),
        (info_nce, (z1, z2, negatives)),
        (info_nce, (z1, z2, queue)),
    ]:
        loss = _finite_loss_and_grad(lambda *a, fn=fn: fn(*a, temperature=0.01), *args)
        reference = fn(*[a.double() for a in args], temperature=0.01)
        assert loss.item() == pytest.approx(reference.item(), rel=0.05, abs=0.05)


def test_all_equal_half_precision_views_keep_the_closed_form():
    z = torch.ones(8, 4, dtype=torch.float16)
    assert nt_xent(z, z, temperature=0.01).item() == pytest.approx(math.log(15), rel=1e-3)


# --- modules --------------------------------------------------------------------------------------


def test_modules_store_the_temperature_and_call_the_function():
    z1, z2, neg = randn(4, 3, seed=36), randn(4, 3, seed=37), randn(6, 3, seed=38)
    assert NTXentLoss(0.2)(z1, z2).item() == nt_xent(z1, z2, temperature=0.2).item()
    assert InfoNCELoss(0.3)(z1, z2, neg).item() == info_nce(z1, z2, neg, temperature=0.3).item()
    assert "temperature=0.2" in repr(NTXentLoss(0.2))
    with pytest.raises(ValueError, match="'temperature' parameter of NTXentLoss"):
        NTXentLoss(0)


# --- bad inputs -----------------------------------------------------------------------------------

GOOD = randn(4, 3, seed=39)


@pytest.mark.parametrize("fn", [nt_xent, dcl, info_nce])
@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(fn, temperature):
    with pytest.raises(ValueError, match=rf"'temperature' parameter of {fn.__name__}"):
        fn(GOOD, GOOD, temperature=temperature)


@pytest.mark.parametrize("fn", [nt_xent, dcl, info_nce])
def test_temperature_of_the_wrong_type(fn):
    with pytest.raises(TypeError, match=rf"'temperature' parameter of {fn.__name__}"):
        fn(GOOD, GOOD, temperature="0.1")


@pytest.mark.parametrize(
    "fn, names", [(nt_xent, ("z1", "z2")), (dcl, ("z1", "z2")), (info_nce, ("query", "positive"))]
)
def test_bad_embeddings(fn, names):
    first, second = names
    where = fn.__name__
    with pytest.raises(ValueError, match=rf"'{first}' parameter of {where}.*2-D"):
        fn(GOOD[None], GOOD)
    with pytest.raises(ValueError, match=rf"'{second}' parameter of {where}.*2-D"):
        fn(GOOD, GOOD[0])
    with pytest.raises(ValueError, match=rf"'{second}' parameter of {where}.*same shape"):
        fn(GOOD, GOOD[:3])
    with pytest.raises(ValueError, match=rf"'{second}' parameter of {where}.*same shape"):
        fn(GOOD, GOOD[:, :2])
    with pytest.raises(ValueError, match=rf"'{first}' parameter of {where}.*at least 2 rows"):
        fn(GOOD[:1], GOOD[:1])
    bad = GOOD.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=rf"'{first}' parameter of {where}.*finite"):
        fn(bad, GOOD)
    bad[1, 2] = float("inf")
    with pytest.raises(ValueError, match=rf"'{second}' parameter of {where}.*finite"):
        fn(GOOD, bad)
    with pytest.raises(TypeError, match=rf"'{first}' parameter of {where}"):
        fn(GOOD.tolist(), GOOD)
    with pytest.raises(TypeError, match=rf"'{first}' parameter of {where}.*floating-point"):
        fn(torch.ones(4, 3, dtype=torch.long), GOOD)


def test_info_nce_bad_negatives():
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*dim=3"):
        info_nce(GOOD, GOOD, randn(5, 2, seed=40))
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*batch=4"):
        info_nce(GOOD, GOOD, randn(3, 5, 3, seed=41))
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*dim=3"):
        info_nce(GOOD, GOOD, randn(4, 5, 2, seed=42))
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*2-D"):
        info_nce(GOOD, GOOD, randn(4, 5, 2, 3, seed=43))
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*at least one negative"):
        info_nce(GOOD, GOOD, torch.empty(4, 0, 3, dtype=torch.float64))
    bad = randn(5, 3, seed=44)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="'negatives' parameter of info_nce.*finite"):
        info_nce(GOOD, GOOD, bad)


def test_info_nce_accepts_one_query_when_negatives_are_given():
    q, k, queue = randn(1, 3, seed=45), randn(1, 3, seed=46), randn(4, 3, seed=47)
    assert info_nce(q, k, queue).item() == pytest.approx(oracles.info_nce(q, k, queue, 0.1), rel=1e-10)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_drop_diagonal_keeps_every_off_diagonal_entry_in_order(n):
    from edu_contrast.losses._common import drop_diagonal

    matrix = torch.arange(n * n).view(n, n)
    expected = [[matrix[i, j].item() for j in range(n) if j != i] for i in range(n)]
    assert drop_diagonal(matrix).tolist() == expected
