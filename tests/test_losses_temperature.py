"""A learnable temperature: τ as a tensor or nn.Parameter gets ∂L/∂τ in every loss that takes one.

The oracles below are written out from the papers with a loop over anchors and explicit exp/log, in
float64 torch so that autograd differentiates the written formula; each loss's τ gradient (and z
gradient) must match theirs. NumPy scalars must be accepted wherever a number is.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from edu_contrast import diagnostics, losses
from edu_contrast.losses import InfoNCELoss, NTXentLoss, SupConLoss


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _cos(a, b):
    return (a * b).sum() / (a.pow(2).sum().sqrt() * b.pow(2).sum().sqrt())


def _neg_log_softmax(numerator, terms):
    """−log( exp(numerator) / Σ exp(terms) ), written out."""
    return -numerator + torch.log(sum(torch.exp(t) for t in terms))


# --- loop oracles (torch, differentiable in z and τ) ----------------------------------------------


def nt_xent_loop(z1, z2, tau):
    """Chen et al. 2020, Eq. 1: ℓ_i = −log exp(s_ii⁺/τ) / Σ_{k≠i} exp(s_ik/τ), mean over 2N anchors."""
    z, n = torch.cat([z1, z2]), z1.shape[0]
    terms = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = [_cos(z[i], z[k]) / tau for k in range(2 * n) if k != i]
        terms.append(_neg_log_softmax(_cos(z[i], z[partner]) / tau, others))
    return sum(terms) / (2 * n)


def dcl_loop(z1, z2, tau):
    """Yeh et al. 2022: the positive left out of the denominator."""
    z, n = torch.cat([z1, z2]), z1.shape[0]
    terms = []
    for i in range(2 * n):
        partner = (i + n) % (2 * n)
        others = [_cos(z[i], z[k]) / tau for k in range(2 * n) if k not in (i, partner)]
        terms.append(_neg_log_softmax(_cos(z[i], z[partner]) / tau, others))
    return sum(terms) / (2 * n)


def info_nce_loop(q, k, negatives, tau):
    """van den Oord et al. 2018, Eq. 4: the positive and M negatives per query; in-batch when None."""
    terms = []
    for i in range(q.shape[0]):
        if negatives is None:
            keys = [k[j] for j in range(k.shape[0]) if j != i]
        else:
            keys = list(negatives[i] if negatives.dim() == 3 else negatives)
        positive = _cos(q[i], k[i]) / tau
        terms.append(_neg_log_softmax(positive, [positive] + [_cos(q[i], key) / tau for key in keys]))
    return sum(terms) / q.shape[0]


def supcon_loop(features, labels, tau, base_tau):
    """Khosla et al. 2020, Eq. 2 (L^sup_out), scaled by τ/τ_b: every view an anchor."""
    n, views, _ = features.shape
    z = features.reshape(n * views, -1)
    y = labels.repeat_interleave(views)
    terms = []
    for i in range(n * views):
        others = [_cos(z[i], z[a]) / tau for a in range(n * views) if a != i]
        positives = [p for p in range(n * views) if p != i and y[p] == y[i]]
        losses_i = [_neg_log_softmax(_cos(z[i], z[p]) / tau, others) for p in positives]
        terms.append(sum(losses_i) / len(positives))
    return (tau / base_tau) * sum(terms) / len(terms)


def generalized_lse_loop(z1, z2, tau, weight):
    """Chen et al. 2020b, Eq. 2-3: −mean s_ii⁺/τ + λ · mean log Σ_{k≠i} exp(s_ik/τ)."""
    z, n = torch.cat([z1, z2]), z1.shape[0]
    align = sum(-_cos(z[i], z[(i + n) % (2 * n)]) / tau for i in range(2 * n)) / (2 * n)
    spread = sum(
        torch.log(sum(torch.exp(_cos(z[i], z[k]) / tau) for k in range(2 * n) if k != i))
        for i in range(2 * n)
    )
    return align + weight * spread / (2 * n)


Q, K = randn(5, 4, seed=1), randn(5, 4, seed=2)
QUEUE, PER_QUERY = randn(6, 4, seed=3), randn(5, 3, 4, seed=4)
LABELS = torch.tensor([0, 1, 0, 2, 1])

# name: (package loss of (a, b, τ), oracle of (a, b, τ)); a, b are (5, 4) float64 tensors.
CASES = {
    "nt_xent": (lambda a, b, t: losses.nt_xent(a, b, temperature=t), nt_xent_loop),
    "dcl": (lambda a, b, t: losses.dcl(a, b, temperature=t), dcl_loop),
    "info_nce": (
        lambda a, b, t: losses.info_nce(a, b, temperature=t),
        lambda a, b, t: info_nce_loop(a, b, None, t),
    ),
    "info_nce_queue": (
        lambda a, b, t: losses.info_nce(a, b, QUEUE, temperature=t),
        lambda a, b, t: info_nce_loop(a, b, QUEUE, t),
    ),
    "info_nce_per_query": (
        lambda a, b, t: losses.info_nce(a, b, PER_QUERY, temperature=t),
        lambda a, b, t: info_nce_loop(a, b, PER_QUERY, t),
    ),
    "supcon": (
        lambda a, b, t: losses.supcon(torch.stack([a, b], 1), LABELS, temperature=t, base_temperature=0.07),
        lambda a, b, t: supcon_loop(torch.stack([a, b], 1), LABELS, t, 0.07),
    ),
    "generalized_lse": (
        lambda a, b, t: losses.generalized_contrastive(a, b, weight=0.7, temperature=t),
        lambda a, b, t: generalized_lse_loop(a, b, t, 0.7),
    ),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("tau_value", [0.1, 0.7])
def test_tau_gradient_matches_autograd_of_the_written_out_formula(name, tau_value):
    loss_fn, oracle = CASES[name]
    tau = nn.Parameter(torch.tensor(tau_value, dtype=torch.float64))
    a, b = Q.clone().requires_grad_(), K.clone().requires_grad_()
    loss = loss_fn(a, b, tau)
    loss.backward()
    assert tau.grad is not None, "no gradient reached τ"
    tau_ref = torch.tensor(tau_value, dtype=torch.float64, requires_grad=True)
    a_ref, b_ref = Q.clone().requires_grad_(), K.clone().requires_grad_()
    expected = oracle(a_ref, b_ref, tau_ref)
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    assert tau.grad.item() == pytest.approx(tau_ref.grad.item(), rel=1e-9)
    torch.testing.assert_close(a.grad, a_ref.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(b.grad, b_ref.grad, rtol=1e-9, atol=1e-12)
    assert loss.item() == pytest.approx(loss_fn(Q, K, tau_value).item(), rel=1e-12)  # same as a float τ


def test_supcon_base_temperature_learns_too():
    features = torch.stack([Q, K], 1)
    tau, base = (nn.Parameter(torch.tensor(v, dtype=torch.float64)) for v in (0.3, 0.5))
    losses.supcon(features, LABELS, temperature=tau, base_temperature=base).backward()
    tau_ref, base_ref = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, 0.5))
    supcon_loop(features, LABELS, tau_ref, base_ref).backward()
    assert tau.grad.item() == pytest.approx(tau_ref.grad.item(), rel=1e-9)
    assert base.grad.item() == pytest.approx(base_ref.grad.item(), rel=1e-9)


@pytest.mark.parametrize("name", CASES)
def test_gradcheck_in_z_and_tau(name):
    loss_fn, _ = CASES[name]
    a, b = Q.clone().requires_grad_(), K.clone().requires_grad_()
    tau = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss_fn, (a, b, tau))


def test_gradcheck_supcon_in_features_tau_and_base_tau():
    features = randn(4, 2, 3, seed=7).requires_grad_()
    tau, base = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.3, 0.6))
    labels = torch.tensor([0, 1, 0, 1])
    loss = lambda f, t, b: losses.supcon(f, labels, temperature=t, base_temperature=b)  # noqa: E731
    assert torch.autograd.gradcheck(loss, (features, tau, base))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("tau_dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", ["nt_xent", "dcl", "info_nce", "generalized_lse"])
def test_half_precision_inputs_with_a_tensor_tau_stay_finite(name, dtype, tau_dtype):
    loss_fn, _ = CASES[name]
    a = randn(8, 16, seed=8, dtype=torch.float32).to(dtype).requires_grad_()
    b = (a.detach().float() + 0.1 * randn(8, 16, seed=9, dtype=torch.float32)).to(dtype).requires_grad_()
    tau = nn.Parameter(torch.tensor(0.01, dtype=tau_dtype))
    loss = loss_fn(a, b, tau)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert torch.isfinite(tau.grad) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_supcon_and_queue_with_a_tensor_tau(dtype):
    tau = nn.Parameter(torch.tensor(0.01))
    features = randn(6, 2, 16, seed=10, dtype=torch.float32).to(dtype).requires_grad_()
    loss = losses.supcon(features, torch.tensor([0, 1, 0, 1, 2, 2]), temperature=tau)
    q = randn(6, 16, seed=11, dtype=torch.float32).to(dtype).requires_grad_()
    queue = randn(32, 16, seed=12, dtype=torch.float32).to(dtype)
    loss = loss + losses.info_nce(q, q.detach(), queue, temperature=tau)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(tau.grad) and torch.isfinite(features.grad).all()


def test_learnable_log_tau_gets_the_chain_rule():
    log_tau = torch.tensor(math.log(0.2), dtype=torch.float64, requires_grad=True)
    losses.nt_xent(Q, K, temperature=log_tau.exp()).backward()
    tau = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    nt_xent_loop(Q, K, tau).backward()
    assert log_tau.grad.item() == pytest.approx(0.2 * tau.grad.item(), rel=1e-9)  # ∂L/∂log τ = τ ∂L/∂τ


def test_one_element_tau_of_shape_1_gives_a_0_dim_loss():
    tau = nn.Parameter(torch.tensor([0.5], dtype=torch.float64))
    loss = losses.info_nce(Q, K, QUEUE, temperature=tau)
    assert loss.shape == ()
    loss.backward()
    assert tau.grad.shape == (1,)


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan"), float("inf")])
def test_a_bad_tensor_tau_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="'temperature' parameter of nt_xent must be"):
        losses.nt_xent(Q, K, temperature=nn.Parameter(torch.tensor(bad)))
    with pytest.raises(ValueError, match="'base_temperature' parameter of supcon must be"):
        losses.supcon(torch.stack([Q, K], 1), base_temperature=torch.tensor(bad))


def test_a_tensor_tau_with_several_elements_is_a_type_error():
    with pytest.raises(
        TypeError, match=r"'temperature' parameter of dcl must be a real number.*shape \(2,\)"
    ):
        losses.dcl(Q, K, temperature=torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("cls, args", [(NTXentLoss, (Q, K)), (InfoNCELoss, (Q, K))])
def test_loss_modules_register_a_parameter_tau(cls, args):
    tau = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))
    module = cls(temperature=tau)
    assert [p is tau for p in module.parameters()] == [True]
    assert "(learnable)" in repr(module)
    module(*args).backward()
    assert tau.grad is not None and tau.grad != 0
    assert list(cls(temperature=0.3).parameters()) == []


def test_supcon_module_registers_both_temperatures():
    tau, base = nn.Parameter(torch.tensor(0.2)), nn.Parameter(torch.tensor(0.1))
    module = SupConLoss(temperature=tau, base_temperature=base)
    assert {id(p) for p in module.parameters()} == {id(tau), id(base)}
    module(torch.stack([Q, K], 1).float(), LABELS).backward()
    assert tau.grad is not None and base.grad is not None


def test_a_plain_tensor_that_requires_grad_is_refused_by_the_modules():
    with pytest.raises(
        TypeError, match="'temperature' parameter of NTXentLoss must be a number, or an nn.Parameter"
    ):
        NTXentLoss(temperature=torch.tensor(0.3, requires_grad=True))


# --- NumPy scalars ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tau", [np.float32(0.5), np.float64(0.5), np.float16(0.5), np.array(0.5)])
@pytest.mark.parametrize("name", CASES)
def test_numpy_temperatures_are_accepted(name, tau):
    loss_fn, _ = CASES[name]
    assert loss_fn(Q, K, tau).item() == pytest.approx(loss_fn(Q, K, 0.5).item(), rel=1e-12)


def test_numpy_numbers_everywhere_a_number_is_checked():
    z = randn(6, 3, seed=13)
    assert losses.uniformity(z, t=np.int64(2)).item() == pytest.approx(losses.uniformity(z, t=2).item())
    assert losses.alignment(Q, K, alpha=np.float32(2)).item() == pytest.approx(losses.alignment(Q, K).item())
    got = losses.margin_contrastive(Q, K, torch.tensor([1, 0, 1, 0, 1]), margin=np.float32(1.0))
    assert got.item() == pytest.approx(losses.margin_contrastive(Q, K, torch.tensor([1, 0, 1, 0, 1])).item())
    assert losses.vicreg(Q, K, sim_weight=np.float64(25)).item() == pytest.approx(losses.vicreg(Q, K).item())
    prior = losses.sample_prior(
        "normal", np.int64(3), np.int32(2), generator=torch.Generator().manual_seed(0)
    )
    assert prior.shape == (3, 2)
    assert diagnostics.uniformity(z, t=np.float32(2)) == pytest.approx(diagnostics.uniformity(z, t=2))
    assert losses.generalized_contrastive(Q, K, weight=np.float32(0.5)).dim() == 0
