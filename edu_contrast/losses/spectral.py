"""The spectral contrastive loss: contrastive learning as a factorisation of the augmentation graph."""

from __future__ import annotations

import torch

from edu_contrast._validation import check_embeddings, check_same_shape
from edu_contrast.losses._common import drop_diagonal, to_compute


def spectral_contrastive(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    r"""Spectral contrastive loss on the raw (unnormalised) embeddings.

        L = −2 · (1/N) Σ_i z1_iᵀ z2_i  +  (1/(N(N − 1))) Σ_{i ≠ j} (z1_iᵀ z2_j)²

    The first term pulls the two views of a sample together (the paper's −2·E[f(x)ᵀf(x⁺)]); the
    second pushes apart the views of different samples, quadratically instead of through a
    log-sum-exp (E[(f(x)ᵀf(x⁻))²]). There is no temperature and no normalisation: the scale of z
    is learned. In expectation L equals ‖Ā − F Fᵀ‖²_F up to a constant, Ā the normalised adjacency
    of the augmentation graph and the rows of F the embeddings scaled by √(weight of x), so its
    minimisers span the top eigenvectors of Ā: what a linear probe on z can read.

    Args:
        z1: f(x), first views, shape ``(N, d)``, N ≥ 2.
        z2: f(x⁺), second views, shape ``(N, d)``; row i pairs with row i of ``z1``.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs). Equal views along orthonormal
        directions (N ≤ d) give −2; all 2N views equal to one vector u give −2‖u‖² + ‖u‖⁴,
        smallest (−1) at ‖u‖ = 1.

    Defined in HaoChen et al. 2021, "Provable Guarantees for Self-Supervised Deep Learning with
    Spectral Contrastive Loss" (NeurIPS), Sec. 3: the loss and its equivalence to the matrix factorisation.
    """
    where = "spectral_contrastive"
    check_embeddings(z1, "z1", where, min_rows=2)
    check_embeddings(z2, "z2", where, min_rows=2)
    check_same_shape(z1, z2, "z1", "z2", where)
    inner = torch.einsum("id,jd->ij", to_compute(z1), to_compute(z2))  # (N, N): z1_iᵀ z2_j
    positive_term = inner.diagonal().mean()  # (1/N) Σ_i z1_iᵀ z2_i
    negative_term = drop_diagonal(inner).pow(2).mean()  # (N, N − 1) → mean over the pairs i ≠ j
    return -2 * positive_term + negative_term
