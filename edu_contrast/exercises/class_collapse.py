"""Checker for notebook 14 (class collapse): who the class-conditional InfoNCE takes as negatives.

``check_class_conditional_negatives(fn)``: ``fn(labels)`` returns, for the N labels y of a batch whose
2N views are stacked [z1; z2] (view 1 of every sample, then view 2), the ``(2N, 2N)`` bool mask of

    K(i) = {k : y_k = y_i, k ≠ i, k ≠ i⁺},    i⁺ = (i + N) mod 2N,

the negatives of anchor i in Chen, Fu et al. 2022's class-conditional InfoNCE, as
``lessons.class_collapse.class_conditional_negatives``. The checker names the usual slips: the anchor
or its positive left in, SupCon's negatives (the other classes) instead, labels not repeated for the
second view, a mask over the N samples instead of the 2N views, a float mask instead of a bool one.
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.class_collapse import class_conditional_negatives

__all__ = ["check_class_conditional_negatives"]

NAME = "class_conditional_negatives"
HINT = (
    "Repeat the labels for the two views (labels.repeat(2)), compare every view's label with every "
    "other's (broadcasting: y[:, None] == y[None, :]), then set the diagonal (the anchor) and the "
    "entries (i, (i + N) % 2N) (its positive) to False."
)
CASES = (
    torch.tensor([0, 1, 0, 2, 1, 0]),
    torch.tensor([3, 3, 3, 3]),  # one class: every other view but the positive is a negative
    torch.tensor([0, 1, 2, 3, 4]),  # all different: no anchor has a class-conditional negative
)


def _mistakes(labels: torch.Tensor):
    right = class_conditional_negatives(labels)
    n2 = 2 * len(labels)
    rows = torch.arange(n2)
    with_self = right.clone()
    with_self[rows, rows] = True
    yield with_self, "the anchor itself is in K(i): set the diagonal to False"
    with_positive = right.clone()
    with_positive[rows, (rows + len(labels)) % n2] = True
    yield with_positive, "the positive i⁺ (the other view of the same image) is in K(i): leave it out"
    per_view = labels.repeat(2)
    other_class = per_view[:, None] != per_view[None, :]
    yield other_class, "these are SupCon's negatives (the other classes); K(i) holds the anchor's own class"
    interleaved = labels.repeat_interleave(2)  # views n·2 + v: the wrong order for [z1; z2]
    wrong_order = interleaved[:, None] == interleaved[None, :]
    wrong_order[rows, rows] = False
    wrong_order[rows, (rows + len(labels)) % n2] = False
    yield (
        wrong_order,
        "views are stacked [z1; z2]: repeat the labels with labels.repeat(2), not repeat_interleave",
    )


def _compare(got, labels: torch.Tensor) -> None:
    expected = class_conditional_negatives(labels)
    n = len(labels)
    if not isinstance(got, torch.Tensor):
        kind = "None (no return statement?)" if got is None else type(got).__name__
        raise ExerciseError(f"{NAME}: return a (2N, 2N) bool tensor. Got {kind}.")
    if got.shape == (n, n):
        raise ExerciseError(
            f"{NAME}: the mask is over the 2N = {2 * n} views (both views of every sample), "
            f"not the N = {n} samples."
        )
    if got.shape != expected.shape:
        raise ExerciseError(f"{NAME}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}.")
    if got.dtype != torch.bool:
        raise ExerciseError(f"{NAME}: return a bool mask (True for k ∈ K(i)), not dtype {got.dtype}.")
    if torch.equal(got, expected):
        return
    for wrong, message in _mistakes(labels):
        if torch.equal(got, wrong):
            raise ExerciseError(f"{NAME} (labels {labels.tolist()}): {message}.")
    i, k = (int(v) for v in torch.nonzero(got != expected)[0])
    raise ExerciseError(
        f"{NAME} (labels {labels.tolist()}): entry ({i}, {k}) is {bool(got[i, k])}, "
        f"expected {bool(expected[i, k])}."
    )


@exercise(NAME, reference=class_conditional_negatives, hint=HINT)
def check_class_conditional_negatives(student_fn) -> bool:
    """Check ``student_fn(labels) -> (2N, 2N) bool`` against the package's ``class_conditional_negatives``."""
    for labels in CASES:
        _compare(call_student(student_fn, labels.clone(), name=NAME), labels)
    return passed(NAME, "SupCon's negatives are the other classes; these are the ones inside the class.")
