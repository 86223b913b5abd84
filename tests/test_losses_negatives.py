"""debiased_nt_xent, hard_nt_xent and class_conditional_nt_xent against loop oracles, special cases,
closed forms, gradients, low precision and bad inputs."""

import math

import oracles_negatives as oracles
import pytest
import torch

from edu_contrast.losses import class_conditional_nt_xent, debiased_nt_xent, hard_nt_xent, nt_xent


def randn(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def noisy_pair(n, d, seed, noise=0.3):
    """Views that share their sample's direction (positives more similar than negatives)."""
    z = randn(n, d, seed=seed)
    return z + noise * randn(n, d, seed=seed + 100), z + noise * randn(n, d, seed=seed + 200)


SHAPES = [(2, 3), (5, 4), (9, 16)]


# --- against the loop oracles ------------------------------------------------------------------


@pytest.mark.parametrize("n, d", SHAPES)
@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5, 0.9])
def test_debiased_matches_oracle(n, d, temperature, tau_plus):
    z1, z2 = noisy_pair(n, d, seed=n + d)
    got = debiased_nt_xent(z1, z2, temperature=temperature, tau_plus=tau_plus).item()
    assert got == pytest.approx(oracles.debiased_nt_xent(z1, z2, temperature, tau_plus), rel=1e-9)


@pytest.mark.parametrize("n, d", SHAPES)
@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 3.0])
def test_hard_matches_oracle(n, d, temperature, tau_plus, beta):
    z1, z2 = noisy_pair(n, d, seed=2 * n + d)
    got = hard_nt_xent(z1, z2, temperature=temperature, tau_plus=tau_plus, beta=beta).item()
    expected = oracles.hard_nt_xent(z1, z2, temperature, tau_plus, beta)
    assert got == pytest.approx(expected, rel=1e-9)


def test_the_oracle_grids_hold_unclamped_clamped_and_mixed_batches():
    # Counts of anchors whose N_g is the floor, over the inputs of the two tests above.
    kinds = set()
    for n, d in SHAPES:
        for seed, betas, taus in [
            (n + d, [0.0], [0.05, 0.5, 2.0]),
            (2 * n + d, [0.5, 1.0, 3.0], [0.1, 0.5, 2.0]),
        ]:
            z1, z2 = noisy_pair(n, d, seed=seed)
            for beta in betas:
                for temperature in taus:
                    for tau_plus in (0.1, 0.5):
                        clamped = oracles.clamp_engaged(z1, z2, temperature, tau_plus, beta)
                        kinds.add(
                            (beta > 0, "none" if clamped == 0 else "all" if clamped == 2 * n else "some")
                        )
    assert kinds == {(hard, kind) for hard in (False, True) for kind in ("none", "all", "some")}


@pytest.mark.parametrize("n, d", SHAPES)
@pytest.mark.parametrize("labels_kind", ["mixed", "pairs", "with_singletons"])
@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_class_conditional_matches_oracle(n, d, labels_kind, temperature):
    z1, z2 = randn(n, d, seed=3 * n), randn(n, d, seed=3 * n + 1)
    labels = {
        "mixed": torch.arange(n) % 2,
        "pairs": torch.arange(n) // 2,
        "with_singletons": torch.tensor([0, 0, 1, 2, 0, 3, 3, 4, 5])[:n],
    }[labels_kind]
    got = class_conditional_nt_xent(z1, z2, labels, temperature=temperature).item()
    expected = oracles.class_conditional_nt_xent(z1, z2, labels, temperature)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_defaults_are_the_contract():
    z1, z2 = noisy_pair(5, 4, seed=1)
    assert debiased_nt_xent(z1, z2).item() == pytest.approx(oracles.debiased_nt_xent(z1, z2, 0.5, 0.1))
    assert hard_nt_xent(z1, z2).item() == pytest.approx(oracles.hard_nt_xent(z1, z2, 0.5, 0.1, 1.0))
    labels = torch.tensor([0, 1, 0, 1, 1])
    expected = oracles.class_conditional_nt_xent(z1, z2, labels, 0.5)
    assert class_conditional_nt_xent(z1, z2, labels).item() == pytest.approx(expected)


# --- special cases ------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", SHAPES)
@pytest.mark.parametrize("temperature", [0.05, 0.5, 2.0])
@pytest.mark.parametrize("dtype, eps", [(torch.float64, 1e-15), (torch.float32, 1e-7)])
def test_tau_plus_zero_is_nt_xent_and_beta_zero_is_debiased(n, d, temperature, dtype, eps):
    z1, z2 = randn(n, d, seed=n, dtype=dtype), randn(n, d, seed=n + 1, dtype=dtype)
    tol = {"rel": 100 * eps, "abs": 100 * eps / temperature}  # rounding of logits of size 1/τ
    reference = nt_xent(z1, z2, temperature=temperature).item()
    debiased = debiased_nt_xent(z1, z2, temperature=temperature, tau_plus=0.0).item()
    assert debiased == pytest.approx(reference, **tol)
    hard = hard_nt_xent(z1, z2, temperature=temperature, tau_plus=0.0, beta=0.0).item()
    assert hard == pytest.approx(reference, **tol)
    for tau_plus in (0.1, 0.6):
        debiased = debiased_nt_xent(z1, z2, temperature=temperature, tau_plus=tau_plus).item()
        hard = hard_nt_xent(z1, z2, temperature=temperature, tau_plus=tau_plus, beta=0.0).item()
        assert hard == pytest.approx(debiased, **tol)


@pytest.mark.parametrize("n, d", SHAPES)
def test_class_conditional_with_one_class_is_nt_xent(n, d):
    z1, z2 = randn(n, d, seed=40), randn(n, d, seed=41)
    expected = nt_xent(z1, z2, temperature=0.3).item()
    assert class_conditional_nt_xent(z1, z2, [7] * n, temperature=0.3).item() == pytest.approx(
        expected, rel=1e-12
    )


def test_new_losses_differ_from_nt_xent_when_their_parameters_act():
    z1, z2 = noisy_pair(8, 6, seed=42)
    reference = nt_xent(z1, z2).item()
    assert debiased_nt_xent(z1, z2, tau_plus=0.1).item() != pytest.approx(reference, rel=1e-3)
    assert hard_nt_xent(z1, z2, tau_plus=0.0, beta=1.0).item() != pytest.approx(reference, rel=1e-3)
    labels = torch.arange(8) % 2
    assert class_conditional_nt_xent(z1, z2, labels).item() != pytest.approx(reference, rel=1e-3)


# --- closed forms ---------------------------------------------------------------------------------


def test_clamp_engaged_gives_the_floor():
    # z1 = z2 = orthonormal rows: s_ii⁺ = 1, every negative s = 0, so Σ_k e^{s/τ} = M. With
    # τ⁺ e^{1/τ} > 1 the estimate M(1 − τ⁺ e^{1/τ})/(1 − τ⁺) < 0 and N_g = M e^{−1/τ}:
    # ℓ = log(1 + M e^{−1/τ} / e^{1/τ}).
    n, temperature, tau_plus = 4, 0.5, 0.5
    z = torch.eye(n, 6, dtype=torch.float64)
    m = 2 * n - 2
    expected = math.log(1 + m * math.exp(-2 / temperature))
    assert debiased_nt_xent(z, z, temperature=temperature, tau_plus=tau_plus).item() == pytest.approx(
        expected, rel=1e-12
    )
    for beta in (0.0, 1.0, 4.0):  # equally similar negatives: the weights are uniform
        got = hard_nt_xent(z, z, temperature=temperature, tau_plus=tau_plus, beta=beta).item()
        assert got == pytest.approx(expected, rel=1e-12)


def test_clamp_inactive_gives_the_debiased_estimate():
    n, temperature, tau_plus = 4, 2.0, 0.1  # τ⁺ e^{1/τ} = 0.165 < 1
    z = torch.eye(n, 6, dtype=torch.float64)
    m = 2 * n - 2
    n_g = m * (1 - tau_plus * math.exp(1 / temperature)) / (1 - tau_plus)
    assert n_g > m * math.exp(-1 / temperature)  # above the floor
    expected = math.log(1 + n_g * math.exp(-1 / temperature))
    assert debiased_nt_xent(z, z, temperature=temperature, tau_plus=tau_plus).item() == pytest.approx(
        expected, rel=1e-12
    )
    got = hard_nt_xent(z, z, temperature=temperature, tau_plus=tau_plus, beta=2.0).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_hard_loss_grows_with_beta():
    # The weighted mean of e^{s/τ} with weights increasing in s grows with β (harder negatives count more).
    z1, z2 = noisy_pair(8, 5, seed=43)
    values = [hard_nt_xent(z1, z2, tau_plus=0.0, beta=beta).item() for beta in (0.0, 0.5, 1.0, 2.0, 5.0)]
    assert all(a < b for a, b in zip(values, values[1:])), values


def test_debiasing_lowers_the_loss_when_positives_beat_the_average_negative():
    # dN_g/dτ⁺ = (Σ_k e^{s_ik/τ} − M e^{s_ii⁺/τ}) / (1 − τ⁺)² < 0 when the positive is the more similar.
    z1, z2 = noisy_pair(8, 5, seed=44, noise=0.1)
    values = [debiased_nt_xent(z1, z2, tau_plus=t).item() for t in (0.0, 0.05, 0.1, 0.2)]
    assert all(a > b for a, b in zip(values, values[1:])), values


def test_class_conditional_with_all_labels_distinct_is_zero_and_backpropagates():
    z1, z2 = randn(5, 3, seed=45).requires_grad_(), randn(5, 3, seed=46).requires_grad_()
    loss = class_conditional_nt_xent(z1, z2, torch.arange(5))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z1.grad, torch.zeros_like(z1)) and torch.equal(z2.grad, torch.zeros_like(z2))


def test_class_conditional_leaves_anchors_without_negatives_out_of_the_mean():
    # Sample 4 is alone in its class: never a negative of another anchor, and its own two anchors
    # are excluded, so the loss is that of the batch without it (not diluted by two zeros).
    z1, z2 = randn(5, 4, seed=47), randn(5, 4, seed=48)
    labels = torch.tensor([0, 1, 0, 1, 9])
    full = class_conditional_nt_xent(z1, z2, labels).item()
    assert full == pytest.approx(class_conditional_nt_xent(z1[:4], z2[:4], labels[:4]).item(), rel=1e-12)
    per_anchor_zeros_included = full * 8 / 10
    assert full != pytest.approx(per_anchor_zeros_included, rel=1e-3)


# --- symmetries and invariances -------------------------------------------------------------------

LOSSES = {
    "debiased": lambda a, b, **kw: debiased_nt_xent(a, b, tau_plus=0.2, **kw),
    "hard": lambda a, b, **kw: hard_nt_xent(a, b, tau_plus=0.2, beta=1.5, **kw),
    "class_conditional": lambda a, b, **kw: class_conditional_nt_xent(a, b, [0, 1, 0, 1, 1, 0], **kw),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_symmetric_in_the_views_and_invariant_to_row_norms(name):
    loss = LOSSES[name]
    z1, z2 = randn(6, 4, seed=49), randn(6, 4, seed=50)
    reference = loss(z1, z2).item()
    assert loss(z2, z1).item() == pytest.approx(reference, rel=1e-12)
    scale = torch.rand(6, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 10 + 0.1
    assert loss(z1 * scale, z2 / scale).item() == pytest.approx(reference, rel=1e-12)


# --- gradients and low precision ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradcheck_float64_including_the_temperature(name):
    loss = LOSSES[name]
    z1, z2 = randn(6, 3, seed=51).requires_grad_(), randn(6, 3, seed=52).requires_grad_()
    tau = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, t: loss(a, b, temperature=t), (z1, z2, tau))


def test_gradcheck_with_the_clamp_engaged_for_some_anchors():
    z1, z2 = noisy_pair(4, 3, seed=53)
    assert 0 < oracles.clamp_engaged(z1, z2, 0.5, 0.9) < 8
    z1, z2 = z1.requires_grad_(), z2.requires_grad_()
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b, t: debiased_nt_xent(a, b, temperature=t, tau_plus=0.9), (z1, z2, tau)
    )
    assert torch.autograd.gradcheck(
        lambda a, b, t: hard_nt_xent(a, b, temperature=t, tau_plus=0.9), (z1, z2, tau)
    )


@pytest.mark.parametrize("name", list(LOSSES))
def test_gradient_reaches_a_learnable_temperature(name):
    log_tau = torch.nn.Parameter(torch.tensor(math.log(0.2)))
    z1, z2 = randn(6, 4, seed=54, dtype=torch.float32), randn(6, 4, seed=55, dtype=torch.float32)
    LOSSES[name](z1, z2, temperature=log_tau.exp()).backward()
    assert log_tau.grad is not None and torch.isfinite(log_tau.grad) and log_tau.grad != 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("temperature", [0.05, 0.01])
@pytest.mark.parametrize("identical", [False, True])
def test_half_precision_is_finite_and_close_to_float64(dtype, temperature, identical):
    z1 = randn(16, 8, seed=56, dtype=dtype)
    z2 = z1.clone() if identical else randn(16, 8, seed=57, dtype=dtype)
    labels = torch.arange(16) % 3
    for fn in (
        lambda a, b: debiased_nt_xent(a, b, temperature=temperature, tau_plus=0.1),
        lambda a, b: debiased_nt_xent(a, b, temperature=temperature, tau_plus=0.9),
        lambda a, b: hard_nt_xent(a, b, temperature=temperature, tau_plus=0.1, beta=1.0),
        lambda a, b: hard_nt_xent(a, b, temperature=temperature, tau_plus=0.5, beta=5.0),
        lambda a, b: class_conditional_nt_xent(a, b, labels, temperature=temperature),
    ):
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        loss = fn(a, b)
        loss.backward()
        assert loss.dim() == 0 and torch.isfinite(loss), loss
        for x in (a, b):
            assert x.grad.dtype == dtype and bool(torch.isfinite(x.grad).all())
        reference = fn(z1.double(), z2.double()).item()
        assert loss.item() == pytest.approx(reference, rel=0.05, abs=0.05)


# --- bad inputs -----------------------------------------------------------------------------------

GOOD = randn(4, 3, seed=58)
FUNCTIONS = {
    "debiased_nt_xent": debiased_nt_xent,
    "hard_nt_xent": hard_nt_xent,
    "class_conditional_nt_xent": lambda a, b, **kw: class_conditional_nt_xent(a, b, [0, 0, 1, 1], **kw),
}


@pytest.mark.parametrize("where", list(FUNCTIONS))
@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf")])
def test_bad_temperature(where, temperature):
    with pytest.raises(ValueError, match=rf"'temperature' parameter of {where} must be"):
        FUNCTIONS[where](GOOD, GOOD, temperature=temperature)
    with pytest.raises(TypeError, match=rf"'temperature' parameter of {where}"):
        FUNCTIONS[where](GOOD, GOOD, temperature="0.1")


@pytest.mark.parametrize("where", ["debiased_nt_xent", "hard_nt_xent"])
@pytest.mark.parametrize(
    "tau_plus, expected",
    [
        (-0.1, ">= 0. Got -0.1 instead"),
        (1.0, r"in \[0, 1\) .*Got 1.0 instead"),
        (1.5, r"in \[0, 1\) .*Got 1.5 instead"),
        (float("nan"), "a finite number >= 0. Got nan"),
        (float("inf"), "a finite number >= 0. Got inf"),
    ],
)
def test_bad_tau_plus(where, tau_plus, expected):
    with pytest.raises(ValueError, match=rf"'tau_plus' parameter of {where} must be {expected}"):
        FUNCTIONS[where](GOOD, GOOD, tau_plus=tau_plus)


def test_bad_beta():
    for beta, expected in [
        (-0.5, ">= 0. Got -0.5"),
        (float("nan"), "a finite number >= 0"),
        (float("inf"), "a finite number >= 0"),
    ]:
        with pytest.raises(ValueError, match=rf"'beta' parameter of hard_nt_xent must be {expected}"):
            hard_nt_xent(GOOD, GOOD, beta=beta)
    with pytest.raises(TypeError, match="'beta' parameter of hard_nt_xent"):
        hard_nt_xent(GOOD, GOOD, beta="1")


@pytest.mark.parametrize("where", list(FUNCTIONS))
def test_bad_embeddings(where):
    fn = FUNCTIONS[where]
    with pytest.raises(ValueError, match=rf"'z1' parameter of {where}.*2-D"):
        fn(GOOD[None], GOOD)
    with pytest.raises(ValueError, match=rf"'z2' parameter of {where}.*same shape"):
        fn(GOOD, GOOD[:, :2])
    with pytest.raises(ValueError, match=rf"'z1' parameter of {where}.*at least 2 rows"):
        fn(GOOD[:1], GOOD[:1])
    bad = GOOD.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=rf"'z2' parameter of {where}.*finite"):
        fn(GOOD, bad)
    with pytest.raises(TypeError, match=rf"'z1' parameter of {where}.*floating-point"):
        fn(torch.ones(4, 3, dtype=torch.long), GOOD)


def test_class_conditional_bad_labels():
    where = "class_conditional_nt_xent"
    with pytest.raises(ValueError, match=rf"'labels' parameter of {where}.*4 labels"):
        class_conditional_nt_xent(GOOD, GOOD, [0, 1, 0])
    with pytest.raises(TypeError, match=rf"'labels' parameter of {where}.*dtype torch.float32"):
        class_conditional_nt_xent(GOOD, GOOD, torch.zeros(4))
    with pytest.raises(TypeError, match=rf"'labels' parameter of {where}"):
        class_conditional_nt_xent(GOOD, GOOD, ["cat", "dog", "cat", "dog"])
