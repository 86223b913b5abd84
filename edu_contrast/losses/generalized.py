"""The generalized contrastive loss of Chen, Luo & Li 2021: alignment + λ · distribution matching.

    L = L_pos + λ · L_dist                                   (Chen, Luo & Li 2021, Eq. 2)

NT-Xent is the member with L_dist = the log-sum-exp term (Eq. 3); the sliced Wasserstein
distance (SWD, Algorithm 1) lets L_dist pull the embeddings towards other priors
(Table 1): uniform on the hypersphere, uniform in a hypercube, standard normal.
Symbols as in ``notebooks/00_notation.md``.
"""

from __future__ import annotations

import math

import torch

from edu_contrast._validation import (
    check_choice,
    check_embeddings,
    check_int,
    check_positive,
    check_same_shape,
    check_temperature,
    fail,
)
from edu_contrast.losses._common import normalize, to_compute
from edu_contrast.losses.infonce import _nt_xent_terms

PRIORS = ("normal", "hypersphere", "hypercube")
DISTRIBUTIONS = ("lse", "swd")


def sample_prior(
    prior: str,
    num_samples: int,
    dim: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw ``(num_samples, dim)`` points from a prior of Chen, Luo & Li 2021, Table 1.

    * ``"normal"``: standard Gaussian N(0, I_d).
    * ``"hypersphere"``: uniform on the unit sphere S^{d−1} (a normalised Gaussian).
    * ``"hypercube"``: uniform in the cube [−1, 1]^d.

    The numbers are drawn on ``generator``'s device (so a CPU generator gives the same
    points everywhere), then moved to ``device``.
    """
    where = "sample_prior"
    check_choice(prior, "prior", where, PRIORS)
    check_int(num_samples, "num_samples", where)
    check_int(dim, "dim", where)
    source = generator.device if generator is not None else device
    shape = (num_samples, dim)
    if prior == "hypercube":
        points = 2 * torch.rand(shape, generator=generator, dtype=dtype, device=source) - 1
    else:
        points = torch.randn(shape, generator=generator, dtype=dtype, device=source)
        if prior == "hypersphere":
            points = torch.nn.functional.normalize(points, dim=1)
    return points.to(device) if device is not None else points


def _orthogonal_directions(dim: int, num: int, generator, dtype, device) -> torch.Tensor:
    """``num`` unit directions w_k as columns ``(d, K)``: blocks of d orthonormal ones (QR of a Gaussian).

    When K > d, independent orthonormal blocks are stacked. The signs QR picks do not matter:
    the 1-D distance between sorted projections is the same for w and −w.
    """
    source = generator.device if generator is not None else device
    blocks = []
    for _ in range(math.ceil(num / dim)):
        gaussian = torch.randn(dim, dim, generator=generator, dtype=dtype, device=source)
        blocks.append(torch.linalg.qr(gaussian).Q)  # (d, d) orthonormal columns
    return torch.cat(blocks, dim=1)[:, :num].to(device)  # (d, K)


def sliced_wasserstein(
    z: torch.Tensor,
    *,
    prior: str = "normal",
    num_projections: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Sliced Wasserstein distance between the batch and as many samples from a prior.

        L_SWD = (1/(N K)) Σ_{k=1..K} Σ_{i=1..N} ( sort(Z w_k)_i − sort(P w_k)_i )²

    Z is the ``(N, d)`` batch (normalised to ẑ when the prior is the hypersphere), P holds N
    fresh samples from the prior and w_1..w_K are random orthonormal directions. In 1-D the
    optimal transport matches the i-th smallest with the i-th smallest, so sorting both
    projections gives the squared 2-Wasserstein distance along each direction.

    Sum or mean: the paper's text (Sec. 2) takes "the sum of 1-D Wasserstein distance across all
    1-D subspaces"; the authors' released code (google-research/simclr,
    colabs/intriguing_properties) takes the mean over the directions and the samples, and so
    does this function, so the value does not grow with the batch or the number of directions.
    The two differ by a constant factor, which the weight λ absorbs. K defaults to d (one full
    orthonormal basis); K > d stacks independent bases.

    Args:
        z: the embeddings Z, shape ``(N, d)``.
        prior: ``"normal"`` (z as is vs N(0, I)), ``"hypersphere"`` (ẑ vs uniform on the
            sphere) or ``"hypercube"`` (z as is vs uniform in [−1, 1]^d).
        num_projections: K ≥ 1, the number of directions; ``None`` gives K = d.
        generator: a ``torch.Generator`` for the prior samples and directions (reproducible).

    Returns:
        The 0-dim loss: ≈ 0 when z is a large sample of the prior.

    Defined in Chen, Luo & Li 2021, "Intriguing Properties of Contrastive Losses", Sec. 2,
    Algorithm 1 and Table 1.
    """
    where = "sliced_wasserstein"
    check_choice(prior, "prior", where, PRIORS)
    check_embeddings(z, "z", where)
    n, dim = z.shape
    num_projections = dim if num_projections is None else check_int(num_projections, "num_projections", where)
    z = normalize(z) if prior == "hypersphere" else to_compute(z)
    samples = sample_prior(prior, n, dim, generator=generator, dtype=z.dtype, device=z.device)  # (N, d) P
    directions = _orthogonal_directions(dim, num_projections, generator, z.dtype, z.device)  # (d, K)
    z_sorted = torch.einsum("id,dk->ik", z, directions).sort(dim=0).values  # (N, K)
    prior_sorted = torch.einsum("id,dk->ik", samples, directions).sort(dim=0).values  # (N, K)
    return (z_sorted - prior_sorted).pow(2).mean()


def generalized_contrastive(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    distribution: str = "lse",
    prior: str = "hypersphere",
    weight: float = 1.0,
    temperature: float | torch.Tensor = 0.5,
) -> torch.Tensor:
    r"""Generalized contrastive loss: L = L_pos + λ · L_dist.

    ``distribution="lse"`` (the hypersphere prior only) splits NT-Xent into its two terms,
    over the 2N views z = [z1; z2] with i⁺ the other view of sample i:

        L_pos = (1/2N) Σ_i −s_{i i⁺}/τ,    L_dist = (1/2N) Σ_i log Σ_{k ≠ i} exp(s_ik/τ)

    so λ = 1 gives exactly ``nt_xent(z1, z2, temperature=τ)``. (The paper's Eq. 3 is τ times this loss:
    alignment −s_{i i⁺} and a distribution term weighted by λ·τ, so this λ is the paper's λ/τ. Its
    Appendix A.2 finds that, within a range of τ, a higher τ acts like a larger weight; notebook 08
    measures where.)

    ``distribution="swd"`` uses the paper's Table 1 pairing, with Euclidean alignment:

        L_pos = (1/N) Σ_i ‖z1_i − z2_i‖²,    L_dist = L_SWD([z1; z2], prior)

    on ẑ for the hypersphere prior and on the raw z for "hypercube" and "normal"; τ is not used.
    L_pos sums over the d coordinates, where the paper uses a mean squared error (Appendix A.1; its
    released code also halves it): this L_pos is d times the paper's, so the same balance needs d
    times the paper's λ here (notebook 08 uses λ = 4d, the paper's λ = 4).
    The directions and prior samples come from torch's global generator (seed it for
    repeatable values).

    Args:
        z1: first views, shape ``(N, d)``, N ≥ 2.
        z2: second views, shape ``(N, d)``.
        distribution: ``"lse"`` or ``"swd"``, the distribution-matching term L_dist.
        prior: ``"hypersphere"``, ``"hypercube"`` or ``"normal"`` (``"lse"`` needs ``"hypersphere"``).
        weight: λ ≥ 0 (λ = 0 leaves only the alignment, which collapses).
        temperature: τ > 0 of the ``"lse"`` term: a number, or a one-element tensor such as an
            ``nn.Parameter`` that receives the gradient ∂L/∂τ.

    Returns:
        The 0-dim loss L.

    Defined in Chen, Luo & Li 2021, "Intriguing Properties of Contrastive Losses", Eq. 2–4, Table 1.
    """
    where = "generalized_contrastive"
    check_choice(distribution, "distribution", where, DISTRIBUTIONS)
    check_choice(prior, "prior", where, PRIORS)
    weight = check_positive(weight, "weight", where, allow_zero=True)
    temperature = check_temperature(temperature, "temperature", where)
    if distribution == "lse":
        if prior != "hypersphere":
            fail(
                "prior",
                where,
                "'hypersphere' when distribution='lse' (use 'swd' for other priors)",
                repr(prior),
            )
        positive_logit, lse = _nt_xent_terms(z1, z2, temperature, where)  # (2N,), (2N,)
        return -positive_logit.mean() + weight * lse.mean()
    check_embeddings(z1, "z1", where, min_rows=2)
    check_embeddings(z2, "z2", where, min_rows=2)
    check_same_shape(z1, z2, "z1", "z2", where)
    on_sphere = prior == "hypersphere"
    z1, z2 = (normalize(z1), normalize(z2)) if on_sphere else (to_compute(z1), to_compute(z2))
    align = (z1 - z2).pow(2).sum(dim=1).mean()
    return align + weight * sliced_wasserstein(torch.cat([z1, z2]), prior=prior)  # (2N, d) to the prior
