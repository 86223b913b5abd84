"""Diagnostics against loop oracles, closed forms and invariances (Wang & Isola 2020, Roy & Vetterli 2007)."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from edu_contrast import diagnostics


def _randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _orthogonal(n, seed):
    q, _ = torch.linalg.qr(_randn(n, n, seed=seed))
    return q  # (n, n)


def _with_singular_values(sigma, n=40, d=12, seed=0):
    """z = U diag(σ) Vᵀ with orthonormal U (n, r), V (d, r)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    r = len(sigma)
    u = _orthogonal(n, seed)[:, :r]  # (n, r)
    v = _orthogonal(d, seed + 1)[:, :r]  # (d, r)
    return u @ torch.diag(sigma) @ v.T  # (n, d)


def _unit(z):
    return z / z.norm(dim=1, keepdim=True)


# ---------------------------------------------------------------- uniformity


def _uniformity_loop(z, t=2.0):
    """Wang & Isola Eq. 5 written pair by pair: log mean_{i<j} exp(−t‖ẑ_i − ẑ_j‖²)."""
    z_hat = _unit(z).tolist()
    terms = []
    for i in range(len(z_hat)):
        for j in range(i + 1, len(z_hat)):
            squared = sum((a - b) ** 2 for a, b in zip(z_hat[i], z_hat[j]))
            terms.append(math.exp(-t * squared))
    return math.log(sum(terms) / len(terms))


@pytest.mark.parametrize("t", [0.5, 2.0, 5.0])
def test_uniformity_equals_pdist(t):
    z = _randn(64, 8, seed=1)
    expected = torch.pdist(_unit(z)).pow(2).mul(-t).exp().mean().log().item()
    assert diagnostics.uniformity(z, t=t) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_uniformity_equals_pair_loop():
    z = _randn(15, 4, seed=2)
    assert diagnostics.uniformity(z, t=2) == pytest.approx(_uniformity_loop(z, 2.0), rel=1e-12)


@pytest.mark.parametrize("block_rows", [1, 2, 3, 7, 16, 50, 51])
def test_uniformity_identical_for_every_block_size(block_rows):
    z = _randn(51, 6, seed=3)
    reference = diagnostics.uniformity(z, _block_rows=51)  # one block: the plain computation
    assert diagnostics.uniformity(z, _block_rows=block_rows) == pytest.approx(reference, rel=1e-13, abs=1e-13)


@pytest.mark.parametrize("dtype, t, rel", [(torch.float64, 500.0, 1e-12), (torch.float32, 60.0, 1e-5)])
def test_uniformity_streaming_logsumexp_stays_finite_for_large_t(dtype, t, rel):
    # Jittered ±e_k: every pair has ‖ẑi−ẑj‖² ≳ 2, so exp(−t‖ẑi−ẑj‖²) underflows (float64 at t = 500,
    # float32 at t = 60) unless the log-sum-exp shifts by its maximum.
    z = torch.cat([torch.eye(15), -torch.eye(15)]).double() + 0.01 * _randn(30, 15, seed=4)
    expected = torch.logsumexp(-t * torch.pdist(_unit(z)).pow(2), dim=0).item() - math.log(30 * 29 / 2)
    assert math.exp(expected) == 0.0 if dtype == torch.float64 else math.exp(expected) < 1e-38
    value = diagnostics.uniformity(z.to(dtype), t=t, _block_rows=4)
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=rel)


def test_uniformity_closed_forms():
    # All points equal: every distance is 0, so ℒ_uniform = log 1 = 0.
    assert diagnostics.uniformity(torch.ones(10, 5) * 3) == pytest.approx(0.0, abs=1e-12)
    # Two antipodal points: ‖ẑ1 − ẑ2‖² = 4, so ℒ_uniform = −4t.
    z = torch.tensor([[1.0, 0.0], [-2.0, 0.0]])
    assert diagnostics.uniformity(z, t=1.5) == pytest.approx(-6.0, abs=1e-12)
    # The 2d vertices of the cross-polytope ±e_k: d(d−1)·2 pairs at distance² 2, d pairs at 4.
    d = 5
    z = torch.cat([torch.eye(d), -torch.eye(d)]).double()  # float64 in, float64 precision out
    n_pairs = 2 * d * (2 * d - 1) / 2
    expected = math.log(((n_pairs - d) * math.exp(-4) + d * math.exp(-8)) / n_pairs)
    assert diagnostics.uniformity(z, t=2) == pytest.approx(expected, rel=1e-12)
    assert diagnostics.uniformity(z.float(), t=2) == pytest.approx(expected, rel=1e-6)


def test_uniformity_normalises_its_input_and_ignores_row_scale():
    z = _randn(20, 4, seed=5)
    scale = torch.rand(20, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 10 + 0.1
    assert diagnostics.uniformity(z * scale) == pytest.approx(diagnostics.uniformity(_unit(z)), rel=1e-12)


def test_uniformity_zero_rows_use_the_true_distance_of_normalised_rows():
    # F.normalize leaves a zero row at 0: its squared distance to a unit row is 1, to another zero row 0.
    z = _randn(8, 3, seed=6)
    z[[1, 4, 5]] = 0.0  # zero rows in the square blocks and in the rectangles
    z_hat = torch.nn.functional.normalize(z, dim=1)
    expected = torch.pdist(z_hat).pow(2).mul(-2).exp().mean().log().item()
    for block_rows in (1, 3, 8):
        assert diagnostics.uniformity(z, _block_rows=block_rows) == pytest.approx(expected, rel=1e-12)
    assert diagnostics.uniformity(torch.zeros(4, 3), _block_rows=2) == 0.0  # complete collapse


def test_uniformity_equals_the_loss():
    losses = pytest.importorskip("edu_contrast.losses")
    if not hasattr(losses, "uniformity"):
        pytest.skip("edu_contrast.losses.uniformity is not written yet")
    z = _randn(40, 7, seed=7)
    for t in (1.0, 2.0):
        expected = losses.uniformity(z, t=t).item()
        assert diagnostics.uniformity(z, t=t, _block_rows=6) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_uniformity_low_precision_inputs_match_float64(dtype):
    z = _randn(32, 8, seed=8).to(dtype)
    expected = diagnostics.uniformity(z.double())
    assert diagnostics.uniformity(z) == pytest.approx(expected, rel=1e-6)  # pairs in float32 at least


def test_diagnostics_return_floats_without_gradient():
    z1 = _randn(10, 4, seed=9, dtype=torch.float32).requires_grad_()
    z2 = _randn(10, 4, seed=10, dtype=torch.float32).requires_grad_()
    for value in (
        diagnostics.uniformity(z1),
        diagnostics.alignment(z1, z2),
        diagnostics.effective_rank(z1),
        diagnostics.positive_cosine(z1, z2),
    ):
        assert type(value) is float
    assert z1.grad is None and z2.grad is None


# ---------------------------------------------------------------- alignment


def _alignment_loop(z1, z2, alpha):
    a, b = _unit(z1).tolist(), _unit(z2).tolist()
    distances = [math.sqrt(sum((x - y) ** 2 for x, y in zip(ra, rb))) ** alpha for ra, rb in zip(a, b)]
    return sum(distances) / len(distances)


@pytest.mark.parametrize("alpha", [0.5, 1, 2, 3.5])
def test_alignment_equals_loop(alpha):
    z1, z2 = _randn(23, 5, seed=11), _randn(23, 5, seed=12)
    expected = _alignment_loop(z1, z2, alpha)
    assert diagnostics.alignment(z1, z2, alpha=alpha) == pytest.approx(expected, rel=1e-12)
    assert diagnostics.alignment(z1, z2, alpha=alpha, _block_rows=4) == pytest.approx(expected, rel=1e-12)


def test_alignment_closed_forms_and_the_loss():
    z = _randn(8, 3, seed=13)
    assert diagnostics.alignment(z, 5 * z) == pytest.approx(0.0, abs=1e-12)  # same direction
    assert diagnostics.alignment(z, -z, alpha=3) == pytest.approx(8.0, rel=1e-12)  # antipodal: 2^α
    losses = pytest.importorskip("edu_contrast.losses")
    if hasattr(losses, "alignment"):
        z2 = _randn(8, 3, seed=14)
        assert diagnostics.alignment(z, z2, alpha=1) == pytest.approx(losses.alignment(z, z2, alpha=1).item())


# ---------------------------------------------------------------- effective rank


@pytest.mark.parametrize("k", [1, 2, 5, 12])
def test_effective_rank_of_k_equal_singular_values_is_k(k):
    z = _with_singular_values([3.0] * k)
    assert diagnostics.effective_rank(z) == pytest.approx(k, rel=1e-9)


def test_effective_rank_of_rank_one_is_one():
    u, v = _randn(100, 1, seed=15), _randn(1, 16, seed=16)
    assert diagnostics.effective_rank(u @ v) == pytest.approx(1.0, abs=1e-9)


def test_effective_rank_closed_form_for_unequal_singular_values():
    sigma = torch.tensor([4.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    p = sigma / sigma.sum()
    expected = math.exp(-(p * p.log()).sum().item())
    assert diagnostics.effective_rank(_with_singular_values(sigma)) == pytest.approx(expected, rel=1e-9)
    assert 1.0 < expected < 4.0


def test_effective_rank_invariant_to_scale_and_rotation():
    z = _randn(30, 10, seed=17) * torch.linspace(0.1, 3.0, 10, dtype=torch.float64)
    reference = diagnostics.effective_rank(z)
    assert diagnostics.effective_rank(7.5 * z) == pytest.approx(reference, rel=1e-10)
    assert diagnostics.effective_rank(z @ _orthogonal(10, 18)) == pytest.approx(reference, rel=1e-10)
    assert diagnostics.effective_rank(_orthogonal(30, 19) @ z) == pytest.approx(reference, rel=1e-10)


def test_effective_rank_is_not_centred():
    # A constant offset is one extra direction: centring would remove it, Roy & Vetterli keep it.
    z = torch.zeros(50, 4, dtype=torch.float64)
    z[:, 0] = 1.0  # every row is e_1: rank 1 before centring, all zeros after
    assert diagnostics.effective_rank(z) == pytest.approx(1.0, abs=1e-12)


def test_effective_rank_rejects_all_zero():
    with pytest.raises(ValueError, match="'z' parameter of effective_rank.*all-zero tensor"):
        diagnostics.effective_rank(torch.zeros(5, 3))


# ---------------------------------------------------------------- spectrum and cosine


def test_singular_spectrum_is_centred_and_descending():
    z = _with_singular_values([5.0, 2.0, 0.5], n=40, d=6, seed=20)
    z_hat = z - z.mean(dim=0)  # the singular values of the centred matrix
    offset = z_hat + torch.arange(6, dtype=torch.float64)  # a mean shift must not change the spectrum
    spectrum = diagnostics.singular_spectrum(offset)
    assert isinstance(spectrum, torch.Tensor) and spectrum.shape == (6,) and spectrum.dtype == torch.float64
    assert torch.all(spectrum[:-1] >= spectrum[1:])
    torch.testing.assert_close(spectrum, torch.linalg.svdvals(z_hat))
    # The uncentred values differ: the offset adds a large direction.
    assert not torch.allclose(spectrum, torch.linalg.svdvals(offset))


def test_singular_spectrum_sum_of_squares_is_total_variance():
    z = _randn(25, 7, seed=21)
    spectrum = diagnostics.singular_spectrum(z)
    total_variance = z.var(dim=0, unbiased=True).sum() * (25 - 1)
    assert spectrum.pow(2).sum().item() == pytest.approx(total_variance.item(), rel=1e-12)


def test_positive_cosine_closed_form():
    theta = torch.tensor([0.0, 0.3, 1.2, math.pi], dtype=torch.float64)
    z1 = torch.stack([torch.ones(4), torch.zeros(4)], dim=1).double() * 2.0  # (4, 2) along e_1
    z2 = torch.stack([theta.cos(), theta.sin()], dim=1) * 0.5  # (4, 2) at angle θ_i
    assert diagnostics.positive_cosine(z1, z2) == pytest.approx(theta.cos().mean().item(), rel=1e-12)


def test_positive_cosine_ties_to_alignment_on_the_sphere():
    z1, z2 = _randn(17, 6, seed=22), _randn(17, 6, seed=23)
    cosine = diagnostics.positive_cosine(z1, z2)
    assert diagnostics.alignment(z1, z2) == pytest.approx(2 - 2 * cosine, rel=1e-12)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: diagnostics.uniformity(torch.randn(1, 3)),
            ValueError,
            "'z' parameter of uniformity.*2 rows",
        ),
        (lambda: diagnostics.uniformity(torch.randn(4)), ValueError, "'z' parameter of uniformity.*2-D"),
        (lambda: diagnostics.uniformity(torch.randn(4, 3), t=0), ValueError, "'t' parameter of uniformity"),
        (lambda: diagnostics.uniformity(torch.randn(4, 3), t="2"), TypeError, "'t' parameter"),
        (lambda: diagnostics.uniformity(torch.ones(4, 3, dtype=torch.long)), TypeError, "floating-point"),
        (lambda: diagnostics.uniformity([[1.0, 2.0]]), TypeError, "'z' parameter of uniformity"),
        (
            lambda: diagnostics.uniformity(torch.tensor([[1.0, float("nan")], [1.0, 2.0]])),
            ValueError,
            "finite",
        ),
        (lambda: diagnostics.uniformity(torch.randn(4, 3), _block_rows=0), ValueError, "_block_rows"),
        (
            lambda: diagnostics.alignment(torch.randn(4, 3), torch.randn(5, 3)),
            ValueError,
            "'z2' parameter of alignment.*same shape",
        ),
        (
            lambda: diagnostics.alignment(torch.randn(4, 3), torch.randn(4, 3), alpha=-1),
            ValueError,
            "'alpha'",
        ),
        (
            lambda: diagnostics.alignment(torch.randn(4, 3), torch.tensor([[float("inf")] * 3] * 4)),
            ValueError,
            "'z2' parameter of alignment.*finite",
        ),
        (
            lambda: diagnostics.effective_rank(torch.randn(2, 3, 4)),
            ValueError,
            "'z' parameter of effective_rank",
        ),
        (
            lambda: diagnostics.singular_spectrum(torch.randn(1, 3)),
            ValueError,
            "'z' parameter of singular_spectrum.*2 rows",
        ),
        (
            lambda: diagnostics.positive_cosine(torch.randn(4, 3), torch.randn(4, 2)),
            ValueError,
            "'z2' parameter of positive_cosine",
        ),
    ],
)
def test_bad_inputs_name_the_parameter(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- memory at scale


_MEMORY_CHILD = textwrap.dedent(
    """
    import resource, torch
    from edu_contrast import diagnostics
    torch.manual_seed(0)
    z = torch.randn(50_000, 128)
    diagnostics.uniformity(torch.randn(100, 128))  # warm up lazy allocations
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = diagnostics.uniformity(z)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(value, (after - before) * 1024)
    """
)


@pytest.mark.slow
def test_uniformity_of_50k_rows_stays_within_memory_bound():
    # A fresh process so ru_maxrss (the peak RSS, in KiB on Linux) only grows because of this call.
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD], cwd=repo, capture_output=True, text=True, check=True
    )
    value, extra_bytes = map(float, result.stdout.split())
    assert extra_bytes <= 1.5 * 2**30, f"uniformity used {extra_bytes / 2**30:.2f} GiB extra, bound 1.5 GiB"
    # Uniform points on S^127: log E[exp(−t‖x−y‖²)] = −3.93753 (von Mises–Fisher normaliser, t = 2).
    assert value == pytest.approx(-3.93753, abs=2e-3)
