"""Which negatives count, and how much: debiased, hard-negative and class-conditional NT-Xent.

All three keep NT-Xent's 2N anchors (the views z = [z1; z2]), each with its positive i⁺ and its
M = 2N − 2 negatives k ∉ {i, i⁺}, and change only the negative term of

    ℓ_i = −log [ exp(s_{i i⁺}/τ) / (exp(s_{i i⁺}/τ) + N_g(i)) ],    N_g(i) = Σ_k exp(s_ik/τ) for NT-Xent.

Everything is computed from logits s/τ in log space, so float16/bfloat16 inputs (cast to float32)
stay finite at small τ. Symbols as in ``notebooks/00_notation.md``; M is the number of negatives.
"""

from __future__ import annotations

import math

import torch

from edu_contrast._validation import (
    check_labels,
    check_positive,
    fail,
)
from edu_contrast.losses._common import drop_diagonal, two_view_logits


def debiased_nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, *, temperature: float | torch.Tensor = 0.5, tau_plus: float = 0.1
) -> torch.Tensor:
    r"""Debiased NT-Xent: the negative sum corrected for negatives that share the anchor's class.

        N_g(i) = max( (Σ_k exp(s_ik/τ) − τ⁺·M·exp(s_{i i⁺}/τ)) / (1 − τ⁺),  M·e^{−1/τ} )
        ℓ_i = −log [ exp(s_{i i⁺}/τ) / (exp(s_{i i⁺}/τ) + N_g(i)) ],    L = (1/2N) Σ_{i=1..2N} ℓ_i

    over NT-Xent's 2N anchors, with k running over the M = 2N − 2 negatives of anchor i. A random
    "negative" has the anchor's class with probability τ⁺; the first argument of the max removes
    their expected share, using the positive as a sample of the anchor's class. The floor M·e^{−1/τ}
    (every negative at s = −1) keeps the estimate positive: the clamp of the paper.

    This is *not* the package's ``dcl``: that is the *decoupled* loss of Yeh et al. 2022, which
    drops the positive from the denominator; this is the *debiased* loss of Chuang et al. 2020.

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2 (normalised here).
        z2: second views, shape ``(N, d)``; row i pairs with row i of ``z1``.
        temperature: τ > 0: a number, or a one-element tensor (``nn.Parameter``) that receives ∂L/∂τ.
        tau_plus: τ⁺ ∈ [0, 1), the class prior: the probability that a negative has the anchor's class.
            τ⁺ = 0 gives ``nt_xent`` (the clamp cannot act then: every s_ik ≥ −1).

    Returns:
        The 0-dim loss L (float32 for half-precision inputs).

    Defined in Chuang et al. 2020, "Debiased Contrastive Learning" (NeurIPS), Sec. 3 (the debiased
    objective with M = 2N − 2 negatives and one positive) and its reference code.
    """
    where = "debiased_nt_xent"
    tau_plus = check_tau_plus(tau_plus, where)
    positive_logit, negative_logits, temperature = two_view_logits(z1, z2, temperature, where)
    log_negative_sum = torch.logsumexp(negative_logits, dim=1)  # (2N,): log Σ_k exp(s_ik/τ)
    return _debiased_mean(positive_logit, log_negative_sum, negative_logits.shape[1], temperature, tau_plus)


def hard_nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor = 0.5,
    tau_plus: float = 0.1,
    beta: float = 1.0,
) -> torch.Tensor:
    r"""Hard-negative NT-Xent: the debiased loss with negatives reweighted towards the hard ones.

        w_ik = exp(β s_ik/τ),    Σ_k exp(s_ik/τ)  →  M · Σ_k w_ik exp(s_ik/τ) / Σ_k w_ik

    in ``debiased_nt_xent``'s N_g(i) (same clamp, same τ⁺ correction with the positive unweighted).
    The importance weights w make negatives close to the anchor (large s_ik) count more: the
    negatives are drawn, in expectation, from q_β(x⁻) ∝ e^{β s/τ}·p(x⁻) instead of p(x⁻).
    The paper writes q_β with β f(x)ᵀf(x⁻), its f already carrying the temperature; its reference
    code computes w = exp(β s/τ) as here. The weights are part of the loss, not detached, as in that
    code: the gradient also flows through which negatives are hard.

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2 (normalised here).
        z2: second views, shape ``(N, d)``; row i pairs with row i of ``z1``.
        temperature: τ > 0: a number, or a one-element tensor (``nn.Parameter``) that receives ∂L/∂τ.
        tau_plus: τ⁺ ∈ [0, 1), the class prior, as in ``debiased_nt_xent``.
        beta: β ≥ 0, the concentration on hard negatives (not the EMA rate β of the momentum
            methods). β = 0 gives ``debiased_nt_xent``; β = 0 and τ⁺ = 0 give ``nt_xent``.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs).

    Defined in Robinson et al. 2021, "Contrastive Learning with Hard Negative Samples" (ICLR),
    Sec. 3 (the importance-sampling estimate) and its reference code.
    """
    where = "hard_nt_xent"
    tau_plus = check_tau_plus(tau_plus, where)
    beta = check_positive(beta, "beta", where, allow_zero=True)
    positive_logit, negative_logits, temperature = two_view_logits(z1, z2, temperature, where)
    m = negative_logits.shape[1]
    # log [M Σ_k w_ik e^{s_ik/τ} / Σ_k w_ik] with w_ik e^{s_ik/τ} = e^{(1 + β) s_ik/τ}
    log_negative_sum = (
        math.log(m)
        + torch.logsumexp((1 + beta) * negative_logits, dim=1)  # (2N,)
        - torch.logsumexp(beta * negative_logits, dim=1)  # (2N,)
    )
    return _debiased_mean(positive_logit, log_negative_sum, m, temperature, tau_plus)


def class_conditional_nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, labels, *, temperature: float | torch.Tensor = 0.5
) -> torch.Tensor:
    r"""Class-conditional NT-Xent: only samples of the anchor's own class are negatives.

        ℓ_i = −log [ exp(s_{i i⁺}/τ) / (exp(s_{i i⁺}/τ) + Σ_{k ∈ K(i)} exp(s_ik/τ)) ]
        L = (1/|I|) Σ_{i ∈ I} ℓ_i,    I = {i : K(i) ≠ ∅}

    over NT-Xent's 2N anchors, where K(i) holds both views of every *other* sample with the label
    y of anchor i. Pushing apart samples of one class keeps their differences (subclasses), which
    SupCon alone collapses; Chen, Fu et al. 2022 train on SupCon plus α times this loss.

    An anchor whose class has no other sample in the batch has only its positive in the
    denominator, so ℓ_i = −log 1 = 0 and no gradient: it is left out of the mean (I). If no anchor
    has a same-class negative, L = 0 (still a tensor that backpropagates, with zero gradient).

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2 (normalised here).
        z2: second views, shape ``(N, d)``; row i pairs with row i of ``z1``.
        labels: y, shape ``(N,)`` integer class labels (a tensor, array or list). All equal gives
            ``nt_xent``.
        temperature: τ > 0: a number, or a one-element tensor (``nn.Parameter``) that receives ∂L/∂τ.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs).

    Defined in Chen, Fu et al. 2022, "Perfectly Balanced: Improving Transfer and Robustness of
    Supervised Contrastive Learning" (ICML), the class-conditional InfoNCE loss L_cNCE.
    """
    where = "class_conditional_nt_xent"
    positive_logit, negative_logits, _ = two_view_logits(z1, z2, temperature, where)
    labels = check_labels(labels, z1.shape[0], "labels", where).to(negative_logits.device)
    same = drop_diagonal(labels[:, None] == labels[None, :])  # (N, N − 1): other samples of y_i
    same = torch.cat([same, same], dim=1).repeat(2, 1)  # (2N, 2N − 2): columns as in two_view_logits
    # −inf leaves other classes out; the positive's column keeps every row's log-sum-exp finite
    kept = torch.where(same, negative_logits, -math.inf)  # (2N, 2N − 2), float32 at least
    logits = torch.cat([positive_logit[:, None], kept], dim=1)  # (2N, 1 + 2N − 2)
    per_anchor = torch.logsumexp(logits, dim=1) - positive_logit  # (2N,), exactly 0 where K(i) = ∅
    return per_anchor.sum() / same.any(dim=1).sum().clamp(min=1)


def _debiased_mean(positive_logit, log_negative_sum, m: int, temperature, tau_plus: float):
    """mean_i −log [e^{p_i} / (e^{p_i} + N_g(i))] with Chuang et al.'s N_g, all in log space.

    ``positive_logit`` p_i and ``log_negative_sum`` log S_i (S_i = Σ_k e^{s_ik/τ}) have shape ``(2N,)``.
    log(S − τ⁺ M e^p) = log S + log1p(−e^{gap}) with gap = log(τ⁺ M) + p − log S: no exp of a logit.
    """
    log_floor = math.log(m) - 1 / temperature + torch.zeros_like(positive_logit)  # (2N,): log M e^{−1/τ}
    if tau_plus == 0:
        log_ng = torch.maximum(log_negative_sum, log_floor)
    else:
        gap = math.log(tau_plus * m) + positive_logit - log_negative_sum  # (2N,)
        estimable = gap < 0  # else S ≤ τ⁺ M e^p: the estimate is ≤ 0 and the floor applies
        safe_gap = torch.where(estimable, gap, -1.0)  # keeps the unused branch (and its gradient) finite
        log_estimate = log_negative_sum + torch.log1p(-torch.exp(safe_gap)) - math.log1p(-tau_plus)
        log_ng = torch.where(estimable, torch.maximum(log_estimate, log_floor), log_floor)
    return (torch.logaddexp(positive_logit, log_ng) - positive_logit).mean()


def check_tau_plus(value, where: str) -> float:
    """The class prior τ⁺ ∈ [0, 1), as a float."""
    value = check_positive(value, "tau_plus", where, allow_zero=True)
    if value >= 1:
        fail("tau_plus", where, "in [0, 1) (a class probability τ⁺ < 1)", value)
    return value
