"""Checkers for notebook 03 (alignment and uniformity, Wang & Isola 2020, Sec. 4.1).

``check_alignment(fn)``: ``fn(z1, z2, alpha=2)`` returns the mean α-th power of the distance between the
normalised positive pairs,

    L_align = (1/N) Σ_i ‖ẑ1_i − ẑ2_i‖^α,

``check_uniformity(fn)``: ``fn(z, t=2)`` returns the log of the mean Gaussian potential over the pairs i < j,

    L_uniform = log [ 2/(N(N−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²) ].

Both are compared with ``losses.alignment`` / ``losses.uniformity`` on small fixed inputs whose rows are
deliberately not unit vectors; a wrong answer is matched against the typical mistakes to say which one it is.
``check_alignment(fn, fallback=True)`` (and ``check_uniformity``) returns the function the notebook goes on
with: the student's once it passes, ``losses.alignment`` (``losses.uniformity``) until then (``_registry``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast import losses
from edu_contrast.exercises._core import ExerciseError, as_number, call_student, passed
from edu_contrast.exercises._registry import exercise

__all__ = ["check_alignment", "check_uniformity"]


def _inputs(n: int, d: int, seed: int) -> torch.Tensor:
    """(n, d) float64 rows with norms between 0.5 and 3, so a missing normalisation shows."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)  # (n, d)
    scale = 0.5 + 2.5 * torch.rand(n, 1, generator=g, dtype=torch.float64)  # (n, 1)
    return z * scale


def _as_float(value, name: str) -> float:
    return as_number(
        value,
        name,
        "one number (a 0-dim tensor or a float)",
        tensor_hint=" (reduce it to one number: the mean over the pairs)",
    )


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)


def _diagnose(got: float, expected: float, mistakes, name: str, case: str) -> None:
    """Raise with the first typical mistake whose value matches ``got``, else with the plain difference."""
    if not math.isfinite(got):
        raise ExerciseError(f"{name}: your function returned {got} for {case}; expected {expected:.6f}.")
    for value, message in mistakes:
        if _close(got, float(value)) and not _close(float(value), expected):
            raise ExerciseError(f"{name}: {message}. (For {case}: yours {got:.6f}, expected {expected:.6f}.)")
    raise ExerciseError(f"{name}: for {case} your function returned {got:.6f}, expected {expected:.6f}.")


# ----------------------------------------------------------------------------- alignment


def _alignment_mistakes(z1: torch.Tensor, z2: torch.Tensor, alpha: float):
    u1, u2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)  # (N, d) each
    distance = (u1 - u2).norm(dim=1)  # (N,) ‖ẑ1_i − ẑ2_i‖
    cosine = (u1 * u2).sum(dim=1)  # (N,)
    all_pairs = torch.cdist(u1, u2)  # (N, N) ‖ẑ1_i − ẑ2_j‖ for every i, j
    return [
        (
            (z1 - z2).norm(dim=1).pow(alpha).mean(),
            "you did not normalise: alignment is measured on the sphere, so divide every row by its norm "
            "(ẑ = z / ‖z‖, e.g. F.normalize(z, dim=1)) before taking distances",
        ),
        (
            distance.pow(2).mean(),
            f"you ignored 'alpha' (α = {alpha:g} here) and always squared the distance: return the mean of "
            f"‖ẑ1_i − ẑ2_i‖^α",
        ),
        (
            distance.pow(2 * alpha).mean(),
            "you raised the squared distance to the power α: ‖ẑ1 − ẑ2‖^α = (‖ẑ1 − ẑ2‖²)^(α/2)",
        ),
        (distance.mean(), "you returned the mean distance ‖ẑ1_i − ẑ2_i‖ without raising it to the power α"),
        (
            distance.pow(alpha).sum(),
            "you summed over the N positive pairs instead of averaging: divide by N (use .mean())",
        ),
        (
            cosine.mean(),
            "you returned the mean cosine similarity: alignment is a distance, "
            "‖ẑ1 − ẑ2‖² = 2 − 2 cos(z1, z2), "
            "and it is small when the pairs agree",
        ),
        (
            -cosine.mean(),
            "you returned minus the mean cosine similarity: alignment is the distance ‖ẑ1 − ẑ2‖^α "
            "(‖ẑ1 − ẑ2‖² = 2 − 2 cos)",
        ),
        (
            all_pairs.pow(alpha).mean(),
            "you compared every z1_i with every z2_j: alignment pairs row i of z1 only with row i of z2 "
            "(the two views of the same sample)",
        ),
    ]


ALIGNMENT_HINT = (
    "Normalise both views row by row (ẑ = F.normalize(z, dim=1)), take each pair's distance\n"
    "‖ẑ1_i − ẑ2_i‖ (row i of z1 with row i of z2 only, .norm(dim=1)), raise it to the power alpha and\n"
    "average over the N pairs (.mean()). Return one number (a 0-dim tensor)."
)


@exercise("alignment", reference=losses.alignment, hint=ALIGNMENT_HINT)
def check_alignment(student_fn) -> bool:
    r"""Check ``student_fn(z1, z2, alpha=2)`` against ``losses.alignment``.

        L_align = (1/N) Σ_i ‖ẑ1_i − ẑ2_i‖^α      (Wang & Isola 2020, Sec. 4.1)

    ``z1``, ``z2`` are ``(N, d)`` float64 tensors whose rows are not unit vectors; α ∈ {2, 1, 3}.
    Returns True and prints a confirmation, or raises ``ExerciseError`` naming the mistake.
    """
    name = "check_alignment"
    for n, d, alpha, seed in ((8, 3, 2.0, 0), (6, 5, 1.0, 1), (7, 4, 3.0, 2)):
        z1 = _inputs(n, d, seed)
        z2 = z1 + 0.7 * _inputs(n, d, seed + 10)  # (n, d): a noisy positive of each row
        expected = float(losses.alignment(z1, z2, alpha=alpha))
        got = _as_float(call_student(student_fn, z1.clone(), z2.clone(), alpha=alpha, name=name), name)
        if not _close(got, expected):
            case = f"N = {n}, d = {d}, α = {alpha:g}"
            _diagnose(got, expected, _alignment_mistakes(z1, z2, alpha), name, case)
    return passed(name, "L_align = mean of ‖ẑ1_i − ẑ2_i‖^α over the positive pairs.")


# ----------------------------------------------------------------------------- uniformity


def _uniformity_mistakes(z: torch.Tensor, t: float):
    n = z.shape[0]
    u = F.normalize(z, dim=1)  # (N, d)
    i, j = torch.triu_indices(n, n, offset=1)  # the N(N−1)/2 pairs i < j
    sq = (u[i] - u[j]).pow(2).sum(dim=1)  # (P,) ‖ẑ_i − ẑ_j‖²
    raw_sq = (z[i] - z[j]).pow(2).sum(dim=1)  # (P,) without normalising
    all_sq = torch.cdist(u, u).pow(2)  # (N, N), zeros on the diagonal
    pairs = n * (n - 1) / 2
    log_sum = torch.logsumexp(-t * sq, dim=0)
    return [
        (
            torch.logsumexp(-t * raw_sq, dim=0) - math.log(pairs),
            "you did not normalise: uniformity is measured on the sphere, so divide every row by its norm "
            "(ẑ = z / ‖z‖) before taking distances",
        ),
        (
            torch.logsumexp(-t * all_sq.flatten(), dim=0) - math.log(n * n),
            "you included the i = j pairs: each point with itself adds exp(0) = 1 to the mean; average over "
            "the pairs i < j (or i ≠ j) only",
        ),
        (
            torch.logsumexp(t * sq, dim=0) - math.log(pairs),
            "wrong sign in the exponent: the potential is exp(−t ‖ẑ_i − ẑ_j‖²), large for nearby points",
        ),
        (
            torch.logsumexp(-2 * sq, dim=0) - math.log(pairs),
            f"you used t = 2 whatever the 't' argument (t = {t:g} here)",
        ),
        (
            torch.logsumexp(-sq, dim=0) - math.log(pairs),
            f"you left out t: the exponent is −t ‖ẑ_i − ẑ_j‖² (t = {t:g} here)",
        ),
        (
            torch.logsumexp(-t * sq.sqrt(), dim=0) - math.log(pairs),
            "you used the distance ‖ẑ_i − ẑ_j‖, not its square, in the exponent",
        ),
        ((-t * sq).exp().mean(), "you forgot the log: L_uniform = log of the mean of exp(−t ‖ẑ_i − ẑ_j‖²)"),
        (
            (-t * sq).mean(),
            "you averaged the exponent −t ‖ẑ_i − ẑ_j‖² instead of the potential "
            "exp(−t ‖ẑ_i − ẑ_j‖²): the log "
            "goes outside the mean, log E exp(·), not E log exp(·)",
        ),
        (
            log_sum - math.log(n * n),
            "you summed over the pairs i < j but divided by N² instead of their number N(N−1)/2",
        ),
        (
            log_sum,
            "you summed over the pairs without dividing by their number N(N−1)/2 "
            "(the log of a sum, not of a mean)",
        ),
        (
            log_sum - math.log(2 * pairs),
            "you divided the sum over the pairs i < j by N(N−1), the number of ordered pairs i ≠ j, "
            "instead of N(N−1)/2",
        ),
    ]


UNIFORMITY_HINT = (
    "Normalise the rows (F.normalize(z, dim=1)); torch.pdist(z) gives ‖ẑ_i − ẑ_j‖ for the N(N−1)/2 pairs\n"
    "i < j. Square it, multiply by −t, exponentiate, average over the pairs, and take the log:\n"
    "log mean exp(−t ‖ẑ_i − ẑ_j‖²). (torch.logsumexp(x, 0) − log(#pairs) is the same, and stable.)"
)


@exercise("uniformity", reference=losses.uniformity, hint=UNIFORMITY_HINT)
def check_uniformity(student_fn) -> bool:
    r"""Check ``student_fn(z, t=2)`` against ``losses.uniformity``.

        L_uniform = log [ 2/(N(N−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²) ]      (Wang & Isola 2020, Sec. 4.1)

    ``z`` is an ``(N, d)`` float64 tensor whose rows are not unit vectors; t ∈ {2, 0.5}.
    Returns True and prints a confirmation, or raises ``ExerciseError`` naming the mistake.
    """
    name = "check_uniformity"
    for n, d, t, seed in ((8, 3, 2.0, 3), (6, 4, 0.5, 4), (10, 2, 2.0, 5)):
        z = _inputs(n, d, seed)
        expected = float(losses.uniformity(z, t=t))
        got = _as_float(call_student(student_fn, z.clone(), t=t, name=name), name)
        if not _close(got, expected):
            _diagnose(got, expected, _uniformity_mistakes(z, t), name, f"N = {n}, d = {d}, t = {t:g}")
    return passed(name, "L_uniform = log of the mean Gaussian potential over the pairs i < j.")
