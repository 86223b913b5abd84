"""Checker for notebook 11 (projection head, batch and queue): the covariance spectrum of embeddings.

``check_covariance_spectrum(fn)``: ``fn(z)`` returns, for embeddings z of shape (n, d),

    z̄ = (1/n) Σ_i z_i,    C = (1/(n − 1)) Σ_i (z_i − z̄)(z_i − z̄)ᵀ,    λ_1 ≥ λ_2 ≥ … ≥ λ_min(n, d),

the eigenvalues of the covariance C, largest first (λ_k = σ_k² / (n − 1) with σ_k the singular values of
the centred z), as ``lessons.projection_head.covariance_spectrum``. The checker tries a matrix whose
spectrum is known exactly, then shifted random embeddings (n > d and n < d), and names the usual mistake
when a value is wrong: z not centred, σ instead of σ², 1/n instead of 1/(n − 1), ascending order.
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.projection_head import covariance_spectrum

__all__ = ["check_covariance_spectrum"]

NAME = "covariance_spectrum"
HINT = (
    "Subtract the column means (z − z.mean(0)), take torch.linalg.svdvals of the result (descending), "
    "square them and divide by n − 1."
)


def _known(n: int = 9, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """z (n, 3) with a common offset whose centred covariance has eigenvalues exactly (4, 1, 0.25)."""
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, 3, generator=g, dtype=torch.float64)
    centred = raw - raw.mean(dim=0)  # (n, 3)
    u, _, _ = torch.linalg.svd(centred, full_matrices=False)  # (n, 3) orthonormal, orthogonal to 1
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))  # a rotation of the axes
    eigenvalues = torch.tensor([4.0, 1.0, 0.25], dtype=torch.float64)
    z = u @ torch.diag((eigenvalues * (n - 1)).sqrt()) @ q.T + torch.tensor([3.0, -2.0, 1.0])  # (n, 3)
    return z, eigenvalues


def _shifted(n: int, d: int, seed: int) -> torch.Tensor:
    """(n, d) embeddings with unequal spread per direction and a clear common mean (as real z have)."""
    g = torch.Generator().manual_seed(seed)
    spread = torch.logspace(0, -1, d, dtype=torch.float64)  # (d,)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * spread + torch.randn(1, d, generator=g)


def _mistakes(z: torch.Tensor):
    n = z.shape[0]
    sigma = torch.linalg.svdvals(z - z.mean(dim=0))  # (min(n, d),) descending
    yield torch.linalg.svdvals(z).pow(2) / (n - 1), "z is not centred: subtract the mean of each column first"
    yield sigma, "these are the singular values σ_k; the covariance's eigenvalues are σ_k² / (n − 1)"
    yield sigma.pow(2), "divide σ_k² by n − 1 (the covariance averages over the samples)"
    yield sigma.pow(2) / n, "divide by n − 1, the unbiased covariance (torch.cov's default), not by n"
    yield sigma.pow(2).flip(0) / (n - 1), "return the eigenvalues largest first (descending)"


def _compare(got, z: torch.Tensor, expected: torch.Tensor, case: str) -> None:
    if not isinstance(got, torch.Tensor):
        kind = "None (no return statement?)" if got is None else type(got).__name__
        raise ExerciseError(f"{NAME}: return a 1-D tensor of eigenvalues. Got {kind}.")
    got = got.detach().to(torch.float64).flatten()
    if got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-8):
        return
    for wrong, hint in _mistakes(z):
        if got.shape == wrong.shape and torch.allclose(got, wrong, rtol=1e-4, atol=1e-8):
            raise ExerciseError(f"{NAME} ({case}): {hint}.")
    if got.shape != expected.shape:
        raise ExerciseError(
            f"{NAME} ({case}): expected min(n, d) = {expected.numel()} eigenvalues, got {got.numel()}."
        )
    raise ExerciseError(
        f"{NAME} ({case}): got {[round(v, 4) for v in got[:4].tolist()]}…, expected "
        f"{[round(v, 4) for v in expected[:4].tolist()]}…"
    )


@exercise(NAME, reference=covariance_spectrum, hint=HINT)
def check_covariance_spectrum(student_fn) -> bool:
    """Check ``student_fn(z) -> (min(n, d),)`` against ``lessons.projection_head.covariance_spectrum``."""
    z, eigenvalues = _known()
    _compare(call_student(student_fn, z.clone(), name=NAME), z, eigenvalues, "known spectrum 4, 1, 0.25")
    for n, d, seed in ((40, 6, 1), (5, 12, 2)):
        z = _shifted(n, d, seed)
        expected = covariance_spectrum(z)
        _compare(call_student(student_fn, z.clone(), name=NAME), z, expected, f"n = {n}, d = {d}")
    return passed(NAME, "A head that collapses shows up as eigenvalues that fall to 0 after the first few.")
