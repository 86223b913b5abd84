"""VICReg: invariance, variance and covariance terms, no negatives and no momentum network."""

from __future__ import annotations

from typing import NamedTuple

import torch

from edu_contrast._validation import check_embeddings, check_positive, check_same_shape
from edu_contrast.losses._common import drop_diagonal, to_compute

GAMMA = 1.0  # γ, the target standard deviation of every dimension
EPSILON = 1e-4  # ε, keeps sqrt(Var + ε) differentiable at zero variance


class VICRegTerms(NamedTuple):
    """The three unweighted VICReg terms (0-dim tensors)."""

    invariance: torch.Tensor  # s(Z, Z')
    variance: torch.Tensor  # v(Z) + v(Z')
    covariance: torch.Tensor  # c(Z) + c(Z')


def _variance_term(z: torch.Tensor) -> torch.Tensor:
    """v(Z) = (1/d) Σ_j max(0, γ − sqrt(Var(z^j) + ε)), Var unbiased over the batch."""
    std = torch.sqrt(z.var(dim=0) + EPSILON)  # (d,)
    return torch.clamp(GAMMA - std, min=0).mean()


def _covariance_term(z: torch.Tensor) -> torch.Tensor:
    """c(Z) = (1/d) Σ_{j ≠ k} C(Z)_jk², C(Z) = (1/(N−1)) Σ_i (z_i − z̄)(z_i − z̄)ᵀ."""
    n, dim = z.shape
    centred = z - z.mean(dim=0)  # (N, d)
    cov = torch.einsum("ij,ik->jk", centred, centred) / (n - 1)  # (d, d) C(Z)
    return drop_diagonal(cov).pow(2).sum() / dim


def vicreg_terms(z1: torch.Tensor, z2: torch.Tensor) -> VICRegTerms:
    r"""The unweighted terms of VICReg (for diagnostics and notebooks).

        s(Z, Z') = (1/N) Σ_i ‖z_i − z'_i‖² / d                    (invariance, a mean squared error)
        v(Z) + v(Z'),   v(Z) = (1/d) Σ_j max(0, γ − sqrt(Var(z^j) + ε))   (variance, γ = 1, ε = 1e-4)
        c(Z) + c(Z'),   c(Z) = (1/d) Σ_{j ≠ k} C(Z)_jk²                (covariance)

    The 1/d of s is the authors' code (``F.mse_loss`` averages over the coordinates too); the paper's
    Eq. 5 writes s(Z, Z') = (1/N) Σ_i ‖z_i − z'_i‖² without it, which at the same λ_I weighs the
    invariance d times more. The default λ_I = 25 belongs to the code's scale, which this follows.

    Args:
        z1: Z, the first branch, shape ``(N, d)``, N ≥ 2 (not normalised).
        z2: Z', the second branch, shape ``(N, d)``.

    Returns:
        ``VICRegTerms(invariance, variance, covariance)``.

    Defined in Bardes, Ponce & LeCun 2022, "VICReg", Eq. 1–5.
    """
    return _terms(z1, z2, "vicreg_terms")


def _terms(z1, z2, where: str) -> VICRegTerms:
    check_embeddings(z1, "z1", where, min_rows=2)
    check_embeddings(z2, "z2", where, min_rows=2)
    check_same_shape(z1, z2, "z1", "z2", where)
    z1, z2 = to_compute(z1), to_compute(z2)
    invariance = (z1 - z2).pow(2).mean()
    variance = _variance_term(z1) + _variance_term(z2)
    covariance = _covariance_term(z1) + _covariance_term(z2)
    return VICRegTerms(invariance, variance, covariance)


def vicreg(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
) -> torch.Tensor:
    r"""VICReg loss: ℓ(Z, Z') = λ_I s(Z, Z') + λ_V [v(Z) + v(Z')] + λ_C [c(Z) + c(Z')].

    The terms are those of ``vicreg_terms``. Both branches get the variance and covariance
    terms, summed as in the paper's Eq. 6 (the authors' code halves the variance sum).

    Args:
        z1: Z, the first branch, shape ``(N, d)``, N ≥ 2 (not normalised).
        z2: Z', the second branch, shape ``(N, d)``.
        sim_weight: λ_I ≥ 0, weight of the invariance term.
        var_weight: λ_V ≥ 0, weight of the variance term.
        cov_weight: λ_C ≥ 0, weight of the covariance term.

    Returns:
        The 0-dim loss ℓ.

    Defined in Bardes, Ponce & LeCun 2022, "VICReg", Eq. 6.
    """
    where = "vicreg"
    sim_weight = check_positive(sim_weight, "sim_weight", where, allow_zero=True)
    var_weight = check_positive(var_weight, "var_weight", where, allow_zero=True)
    cov_weight = check_positive(cov_weight, "cov_weight", where, allow_zero=True)
    terms = _terms(z1, z2, where)
    return sim_weight * terms.invariance + var_weight * terms.variance + cov_weight * terms.covariance
