"""The InfoNCE family: ``info_nce`` (CPC/MoCo), ``nt_xent`` (SimCLR) and ``dcl`` (decoupled).

All three are a cross-entropy over cosine similarities divided by a temperature,

    ℓ_i = −s_{i i⁺}/τ + log Σ_{k ∈ D(i)} exp(s_ik/τ),

and differ only in the set D(i) the anchor i is contrasted with. Symbols as in
``notebooks/00_notation.md``.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast._validation import (
    check_embeddings,
    check_same_shape,
    check_temperature,
    fail,
    store_temperature,
    temperature_repr,
)
from edu_contrast.losses._common import drop_diagonal, normalize, two_view_logits


def info_nce(
    query: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor | None = None,
    *,
    temperature: float | torch.Tensor = 0.1,
) -> torch.Tensor:
    r"""InfoNCE of CPC/MoCo, one direction, mean over the N queries.

        L = (1/N) Σ_i [ −s(q_i, k_i⁺)/τ + log( exp(s(q_i, k_i⁺)/τ) + Σ_{m=1..M} exp(s(q_i, k_m⁻)/τ) ) ]

    with s(a, b) = â · b̂ the cosine similarity.

    Args:
        query: q, shape ``(N, d)``.
        positive: k⁺, shape ``(N, d)``; row i is the positive key of query i.
        negatives: k⁻, one of
            * ``None``: in-batch negatives, the N − 1 other rows of ``positive`` (M = N − 1);
            * ``(M, d)``: a queue shared by every query (MoCo);
            * ``(N, M, d)``: M negatives per query.
        temperature: τ > 0: a number, or a one-element tensor such as an ``nn.Parameter``
            (or ``log_tau.exp()``) that receives the gradient ∂L/∂τ.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs).

    Defined in van den Oord et al. 2018 (CPC), Eq. 4, and He et al. 2020 (MoCo), Eq. 1.
    """
    where = "info_nce"
    temperature = check_temperature(temperature, "temperature", where)
    check_embeddings(query, "query", where, min_rows=2 if negatives is None else 1)
    check_embeddings(positive, "positive", where)
    check_same_shape(query, positive, "query", "positive", where)
    q, k = normalize(query), normalize(positive)  # (N, d)
    if negatives is None:
        logits = torch.einsum("id,jd->ij", q, k) / temperature  # (N, N), positives on the diagonal
        positive_logit = logits.diagonal()  # (N,)
    else:
        negatives = _check_negatives(negatives, query)
        k_neg = normalize(negatives)
        positive_logit = torch.einsum("id,id->i", q, k) / temperature  # (N,)
        if k_neg.dim() == 2:
            negative_logits = torch.einsum("id,md->im", q, k_neg) / temperature  # (N, M)
        else:
            negative_logits = torch.einsum("id,imd->im", q, k_neg) / temperature  # (N, M)
        logits = torch.cat([positive_logit[:, None], negative_logits], dim=1)  # (N, 1 + M)
    return (torch.logsumexp(logits, dim=1) - positive_logit).mean()


def _check_negatives(negatives, query: torch.Tensor) -> torch.Tensor:
    where = "info_nce"
    ndim = 3 if isinstance(negatives, torch.Tensor) and negatives.dim() == 3 else 2
    check_embeddings(negatives, "negatives", where, ndim=ndim, shape_hint="(M, dim) or (batch, M, dim)")
    batch, dim = query.shape
    if negatives.shape[-1] != dim:
        fail(
            "negatives",
            where,
            f"a tensor whose last axis has dim={dim} like 'query'",
            f"shape {tuple(negatives.shape)}",
        )
    if ndim == 3 and negatives.shape[0] != batch:
        fail(
            "negatives",
            where,
            f"of shape (batch={batch}, M, dim) when 3-D",
            f"shape {tuple(negatives.shape)}",
        )
    if negatives.shape[-2] < 1:
        fail(
            "negatives",
            where,
            "a tensor with at least one negative (M >= 1)",
            f"shape {tuple(negatives.shape)}",
        )
    return negatives


def _nt_xent_terms(z1: torch.Tensor, z2: torch.Tensor, temperature, where: str):
    """The two per-anchor terms of NT-Xent (Chen, Luo & Li 2021, Eq. 3), each of shape ``(2N,)``.

    Returns ``(positive_logit, lse)`` with positive_logit_i = s_{i i⁺}/τ and
    lse_i = log Σ_{k ≠ i} exp(s_ik/τ), so that ℓ_i = lse_i − positive_logit_i.
    """
    temperature = check_temperature(temperature, "temperature", where)
    check_embeddings(z1, "z1", where, min_rows=2)
    check_embeddings(z2, "z2", where, min_rows=2)
    check_same_shape(z1, z2, "z1", "z2", where)
    n = z1.shape[0]
    z = torch.cat([normalize(z1), normalize(z2)])  # (2N, d): views 1 then views 2
    logits = torch.einsum("id,jd->ij", z, z) / temperature  # (2N, 2N)
    partner = torch.arange(2 * n, device=z.device).roll(n)  # i⁺ = i + N mod 2N
    positive_logit = logits[torch.arange(2 * n, device=z.device), partner]  # (2N,)
    lse = torch.logsumexp(drop_diagonal(logits), dim=1)  # (2N,): over the 2N − 1 others k ≠ i
    return positive_logit, lse


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float | torch.Tensor = 0.5) -> torch.Tensor:
    r"""NT-Xent of SimCLR: 2N anchors, each against its positive and the 2N − 2 other views.

        ℓ_i = −log [ exp(s_{i i⁺}/τ) / Σ_{k ≠ i} exp(s_ik/τ) ],    L = (1/2N) Σ_{i=1..2N} ℓ_i

    over the 2N views z = [z1; z2], where i⁺ is the other view of the same sample.

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2.
        z2: second views, shape ``(N, d)``; row i pairs with row i of ``z1``.
        temperature: τ > 0: a number, or a one-element tensor such as an ``nn.Parameter``
            (or ``log_tau.exp()``) that receives the gradient ∂L/∂τ.

    Returns:
        The 0-dim loss L. All views equal gives log(2N − 1).

    Defined in Chen et al. 2020 (SimCLR), Eq. 1 and Algorithm 1.
    """
    positive_logit, lse = _nt_xent_terms(z1, z2, temperature, "nt_xent")
    return (lse - positive_logit).mean()


def dcl(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float | torch.Tensor = 0.1) -> torch.Tensor:
    r"""Decoupled contrastive loss: NT-Xent with the positive left out of the denominator.

        ℓ_i = −s_{i i⁺}/τ + log Σ_{k ∉ {i, i⁺}} exp(s_ik/τ),    L = (1/2N) Σ_{i=1..2N} ℓ_i

    The 2N − 2 negatives of anchor i are the other samples' views from both z1 and z2;
    the mean runs over the anchors of both views (symmetric).

    "DCL" here is the *decoupled* loss of Yeh et al. 2022, not the *debiased* contrastive loss of
    Chuang et al. 2020 (also abbreviated DCL): that one is ``debiased_nt_xent``.

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2.
        z2: second views, shape ``(N, d)``.
        temperature: τ > 0: a number, or a one-element tensor such as an ``nn.Parameter``
            (or ``log_tau.exp()``) that receives the gradient ∂L/∂τ.

    Returns:
        The 0-dim loss L. All views equal gives log(2N − 2).

    Defined in Yeh et al. 2022, "Decoupled Contrastive Learning" (ECCV), Sec. 3, L_DC.
    """
    where = "dcl"
    positive_logit, negative_logits, _ = two_view_logits(z1, z2, temperature, where)  # (2N,), (2N, 2N − 2)
    return (torch.logsumexp(negative_logits, dim=1) - positive_logit).mean()


class InfoNCELoss(nn.Module):
    """``info_nce`` as a module; it only stores τ (an ``nn.Parameter`` τ is registered, so it learns)."""

    def __init__(self, temperature: float | torch.Tensor = 0.1):
        super().__init__()
        store_temperature(self, "temperature", temperature, "InfoNCELoss")

    def forward(self, query, positive, negatives=None):
        return info_nce(query, positive, negatives, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={temperature_repr(self.temperature)}"


class NTXentLoss(nn.Module):
    """``nt_xent`` as a module; it only stores τ (an ``nn.Parameter`` τ is registered, so it learns)."""

    def __init__(self, temperature: float | torch.Tensor = 0.5):
        super().__init__()
        store_temperature(self, "temperature", temperature, "NTXentLoss")

    def forward(self, z1, z2):
        return nt_xent(z1, z2, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={temperature_repr(self.temperature)}"
