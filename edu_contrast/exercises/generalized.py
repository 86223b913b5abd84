r"""Checker for notebook 08 (generalized contrastive losses): the 1-D Wasserstein distance behind the SWD.

``check_wasserstein_1d(fn)``: ``fn(a, b)`` takes two 1-D samples of the same size n and returns

    W₂²(a, b) = (1/n) Σ_{i=1..n} ( a_(i) − b_(i) )²,      a_(1) ≤ … ≤ a_(n) the sorted values,

the squared 2-Wasserstein distance between their empirical distributions: in 1-D the optimal transport
matches the i-th smallest with the i-th smallest (Chen, Luo & Li 2021, Sec. 2 and Algorithm 1). The checker
tries closed forms first (a shifted copy: W₂² = shift²; a shuffled copy: 0), then random samples, and
names the usual mistake. Finally it averages the student's function over K random projections and
compares with ``losses.sliced_wasserstein``, which must then agree exactly. A registered exercise
(``check_wasserstein_1d(fn, fallback=True)``, ``_registry``); the reference is
``lessons.generalized.wasserstein_1d``.
"""

from __future__ import annotations

import math

import torch

from edu_contrast import losses
from edu_contrast.exercises._core import ExerciseError, as_number, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.generalized import wasserstein_1d
from edu_contrast.losses.generalized import _orthogonal_directions

__all__ = ["check_wasserstein_1d"]


def _variants(a: torch.Tensor, b: torch.Tensor) -> dict:
    """The correct value and what the usual mistakes return, by name."""
    sa, sb = a.sort().values, b.sort().values
    return {
        "correct": wasserstein_1d(a, b),
        "unsorted": (a - b).pow(2).mean(),
        "one_sorted_a": (sa - b).pow(2).mean(),
        "one_sorted_b": (a - sb).pow(2).mean(),
        "opposite_order": (sa - sb.flip(0)).pow(2).mean(),
        "absolute": (sa - sb).abs().mean(),
        "sum": (sa - sb).pow(2).sum(),
        "square_root": (sa - sb).pow(2).mean().sqrt(),
        "means_only": (a.mean() - b.mean()).pow(2),
    }


MISTAKES = {
    "unsorted": "you compared the samples in the order they came: in 1-D the optimal transport pairs the "
    "i-th smallest value of a with the i-th smallest of b, so sort both first",
    "one_sorted_a": "only a is sorted: sort b too, so that the i-th smallest meets the i-th smallest",
    "one_sorted_b": "only b is sorted: sort a too, so that the i-th smallest meets the i-th smallest",
    "opposite_order": "one sample is sorted ascending and the other descending: sort both the same way",
    "absolute": "you averaged |a_(i) − b_(i)|, the 1-Wasserstein distance: the SWD uses squared differences",
    "sum": "you summed over the n pairs: average them, (1/n) Σ_i, so the value does not grow with n",
    "square_root": "you took the square root (W₂ itself): the loss uses the squared distance W₂²",
    "means_only": "you compared only the means: W₂² compares every quantile, the sorted values one by one",
}


def _as_float(value, name: str) -> float:
    return as_number(value, name, "one number, W₂²(a, b) (a float or a 0-dim tensor)")


def _close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)


def _check_pair(student_fn, a: torch.Tensor, b: torch.Tensor, name: str, what: str) -> str | None:
    """None when the student's value is right, else the message to raise.

    Raises at once when exactly one usual mistake explains the value; returns the plain message when none
    or several do (on a shifted copy, |·| and the square root give the same number), so that a later case
    can tell them apart.
    """
    got = _as_float(call_student(student_fn, a.clone(), b.clone(), name=name), name)
    variants = _variants(a, b)
    expected = float(variants["correct"])
    if _close(got, expected):
        return None
    matches = [
        key
        for key in MISTAKES
        if _close(got, float(variants[key])) and not _close(float(variants[key]), expected)
    ]
    if len(matches) == 1:
        raise ExerciseError(
            f"{name}: {MISTAKES[matches[0]]}. ({what}: yours {got:.6f}, expected {expected:.6f}.)"
        )
    return f"{name}: {what}: your function returned {got:.6f}, expected {expected:.6f}."


HINT = (
    "Sort both samples (a.sort().values, b.sort().values): in 1-D the optimal transport pairs the i-th\n"
    "smallest of a with the i-th smallest of b. Then average the squared differences of the pairs\n"
    "(.pow(2).mean()): W₂², not its square root, not the sum."
)


@exercise("wasserstein_1d", reference=wasserstein_1d, hint=HINT)
def check_wasserstein_1d(student_fn) -> bool:
    """Check ``student_fn(a, b) -> W₂²`` for 1-D tensors a, b of equal length, then inside the SWD."""
    name = "check_wasserstein_1d"
    g = torch.Generator().manual_seed(0)
    a = torch.randn(50, generator=g, dtype=torch.float64)  # (n,)
    cases = [
        (a, a + 0.5, "b = a + 0.5, whose W₂² is 0.5² = 0.25"),
        (a, a[torch.randperm(50, generator=g)], "b = a shuffled, whose W₂² is 0"),
    ]
    for n in (7, 64):
        cases.append(
            (
                torch.randn(n, generator=g, dtype=torch.float64),
                2 * torch.rand(n, generator=g, dtype=torch.float64) - 1,
                f"a ~ N(0, 1) and b ~ U(−1, 1), n = {n}",
            )
        )
    failures = [message for a, b, what in cases if (message := _check_pair(student_fn, a, b, name, what))]
    if failures:
        raise ExerciseError(failures[0])

    # Sliced: project onto K directions, then average the student's 1-D distance over them.
    n, dim, seed = 40, 5, 3
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)  # (n, d)
    g = torch.Generator().manual_seed(
        seed
    )  # the draws sliced_wasserstein makes: prior samples, then directions
    prior = losses.sample_prior("normal", n, dim, generator=g, dtype=torch.float64)  # (n, d)
    directions = _orthogonal_directions(dim, dim, g, torch.float64, "cpu")  # (d, K)
    z_proj, prior_proj = z @ directions, prior @ directions  # (n, K) each
    sliced = (
        sum(
            _as_float(
                call_student(student_fn, z_proj[:, k].clone(), prior_proj[:, k].clone(), name=name), name
            )
            for k in range(dim)
        )
        / dim
    )
    reference = float(
        losses.sliced_wasserstein(z, prior="normal", generator=torch.Generator().manual_seed(seed))
    )
    if not _close(sliced, reference):
        raise ExerciseError(
            f"{name}: averaged over {dim} projections your distance is {sliced:.6f}, but "
            f"losses.sliced_wasserstein gives {reference:.6f}."
        )
    return passed(
        name,
        f"averaged over {dim} random directions it reproduces losses.sliced_wasserstein ({reference:.4f}).",
    )
