"""Checker for notebook 04 (collapse): the effective rank of Roy & Vetterli 2007.

``check_effective_rank(fn)``: ``fn(z)`` returns, for embeddings z of shape (N, d) with singular values σ_k,

    p_k = σ_k / Σ_l σ_l,    H(p) = −Σ_k p_k log p_k,    erank(z) = exp(H(p)),

on z as given (not centred, not normalised), as ``diagnostics.effective_rank`` does. The checker first
tries the closed forms (k equal singular values give exactly k), then matrices with a non-zero mean and
unequal singular values, and names the typical mistake when the value is wrong.
``check_effective_rank(fn, fallback=True)`` returns the function the notebook goes on with: the student's
once it passes, ``diagnostics.effective_rank`` until then (``_registry``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast import diagnostics
from edu_contrast.exercises._core import ExerciseError, as_number, call_student, passed
from edu_contrast.exercises._registry import exercise

__all__ = ["check_effective_rank"]


def _orthonormal(n: int, r: int, g: torch.Generator) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return q[:, :r]  # (n, r) orthonormal columns


def _with_spectrum(sigma, n: int, d: int, seed: int) -> torch.Tensor:
    """z = U diag(σ) Vᵀ: an (n, d) matrix whose singular values are exactly σ."""
    g = torch.Generator().manual_seed(seed)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    u, v = _orthonormal(n, len(sigma), g), _orthonormal(d, len(sigma), g)  # (n, r), (d, r)
    return u @ torch.diag(sigma) @ v.T  # (n, d)


def _shifted(n: int, d: int, seed: int) -> torch.Tensor:
    """(n, d) embeddings with unequal spread per direction and a clear common mean (as real z have)."""
    g = torch.Generator().manual_seed(seed)
    spread = torch.logspace(0, -1.5, d, dtype=torch.float64)  # (d,) from 1 down to 0.03
    z = torch.randn(n, d, generator=g, dtype=torch.float64) * spread  # (n, d)
    return z + torch.randn(1, d, generator=g, dtype=torch.float64)  # (n, d) plus a shared offset


def _as_float(value, name: str) -> float:
    return as_number(value, name, "one number, the effective rank (a float or a 0-dim tensor)")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return torch.special.entr(p).sum()  # −Σ p log p with 0 log 0 = 0


def _mistakes(z: torch.Tensor):
    sigma = torch.linalg.svdvals(z)  # (r,) descending
    p = sigma / sigma.sum()
    squared = sigma.pow(2) / sigma.pow(2).sum()
    centred = torch.linalg.svdvals(z - z.mean(dim=0, keepdim=True))
    rows = torch.linalg.svdvals(F.normalize(z, dim=1))
    return [
        (
            _entropy(squared).exp(),
            "you used the squared singular values σ_k² (the eigenvalues of zᵀz) in p: Roy & Vetterli's "
            "p_k = σ_k / Σ σ uses the singular values themselves",
        ),
        (
            _entropy(sigma).exp(),
            "you forgot to normalise p: divide the singular values by their sum, p_k = σ_k / Σ_l σ_l, "
            "so that "
            "p is a probability distribution (Σ p_k = 1)",
        ),
        (
            _entropy(centred / centred.sum()).exp(),
            "you centred the embeddings (subtracted the mean row): the effective rank here is that of "
            "z itself, "
            "not centred (only singular_spectrum centres, for the collapse plots)",
        ),
        (_entropy(rows / rows.sum()).exp(), "you normalised the rows to unit length first: use z as given"),
        (_entropy(p), "you returned the entropy H(p): the effective rank is its exponential, exp(H(p))"),
        (
            torch.exp(-(p * torch.log2(p)).sum()),
            "you mixed logarithm bases: with log₂ in the entropy, take 2 ** H, "
            "or use the natural log with exp",
        ),
        (
            torch.tensor(float(torch.linalg.matrix_rank(z))),
            "you returned the ordinary rank (the number of non-zero singular values): the effective rank "
            "weights them, exp(H(p)), so it is not an integer in general",
        ),
    ]


def _diagnose(got: float, expected: float, z: torch.Tensor, name: str, *, hint: str) -> None:
    """Raise with the typical mistake whose value matches ``got``, else with ``hint``."""
    n, d = z.shape
    for value, message in _mistakes(z):
        if _close(got, float(value)) and not _close(float(value), expected):
            raise ExerciseError(
                f"{name}: {message}. (For a {n} × {d} z: yours {got:.6f}, expected {expected:.6f}.)"
            )
    raise ExerciseError(f"{name}: {hint}")


HINT = (
    "torch.linalg.svdvals(z) gives the singular values σ_k of z as it is (do not centre or normalise it).\n"
    "Divide them by their sum, p = σ / σ.sum(), the entropy H = −Σ p log p (torch.special.entr(p).sum()\n"
    "treats 0·log 0 as 0) and return exp(H) as one number."
)


@exercise("effective_rank", reference=diagnostics.effective_rank, hint=HINT)
def check_effective_rank(student_fn) -> bool:
    r"""Check ``student_fn(z)`` against ``diagnostics.effective_rank``.

        erank(z) = exp(−Σ_k p_k log p_k),  p_k = σ_k / Σ_l σ_l      (Roy & Vetterli 2007)

    First on matrices built with a known spectrum (k equal singular values → exactly k), then on
    ``(N, d)`` float64 embeddings with a non-zero mean. Returns True and prints a confirmation, or raises
    ``ExerciseError`` naming the mistake.
    """
    name = "check_effective_rank"
    for sigma in ([1.0], [2.0, 2.0, 2.0]):
        z = _with_spectrum(sigma, n=12, d=6, seed=len(sigma))  # (12, 6)
        got = _as_float(call_student(student_fn, z.clone(), name=name), name)
        if not _close(got, float(len(sigma))):
            _diagnose(
                got,
                float(len(sigma)),
                z,
                name,
                hint=(
                    f"a 12 × 6 matrix with {len(sigma)} equal non-zero singular value(s) {sigma} has "
                    f"p = {[round(1 / len(sigma), 3)] * len(sigma)}, so its effective rank is exactly "
                    f"{len(sigma)}; "
                    f"yours is {got:.6f}."
                ),
            )
    for n, d, seed in ((30, 6, 0), (16, 10, 1)):
        z = _shifted(n, d, seed)
        expected = diagnostics.effective_rank(z)
        got = _as_float(call_student(student_fn, z.clone(), name=name), name)
        if not _close(got, expected):
            _diagnose(
                got,
                expected,
                z,
                name,
                hint=(f"for a {n} × {d} z your function returned {got:.6f}, expected {expected:.6f}."),
            )
    return passed(name, "erank = exp(H(σ / Σσ)).")
