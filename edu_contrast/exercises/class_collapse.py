"""Checker for notebook 14 (class collapse): who the class-conditional InfoNCE takes as negatives.

``check_class_conditional_negatives(fn)``: ``fn(labels)`` returns, for the N labels y of a batch whose
2N views are stacked [z1; z2] (view 1 of every sample, then view 2), the ``(2N, 2N)`` bool mask of

    K(i) = {k : y_k = y_i, k ≠ i, k ≠ i⁺},    i⁺ = (i + N) mod 2N,

the negatives of anchor i in Chen, Fu et al. 2022's class-conditional InfoNCE, as
``lessons.class_collapse.class_conditional_negatives``. The checker names the usual slips: the anchor
or its positive left in, SupCon's negatives (the other classes) instead, labels not repeated for the
second view, a mask over the N samples instead of the 2N views, a float mask instead of a bool one.

``check_choose_floor(fn)`` (designing the experiment): ``fn(method)`` gets the settings of the SupCon run
(a dict: loss, alpha, epochs, width, batch_size, seed, calibrate_bn) and returns the floor every trained
encoder must beat (``lessons.class_collapse.untrained_floor``). The checker refuses a floor that is
trained, whose BatchNorm is not calibrated, that is another network (width, seed) or that changes any
other setting, saying why in one line.
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import (
    ExerciseError,
    call_student,
    changed_factors,
    check_design,
    describe_changes,
    passed,
    setting_is_number,
)
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.class_collapse import class_conditional_negatives, untrained_floor

__all__ = ["check_class_conditional_negatives", "check_choose_floor"]

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


# ----------------------------------------------------------------------------- designing the experiment

FLOOR = "choose_floor"
FLOOR_HINT = (
    "The floor is the run's own network before training: copy the run, dict(method, epochs=...,\n"
    "calibrate_bn=...), changing only what makes it untrained and measurable: epochs 0 (no training) and\n"
    "calibrate_bn True, because an untrained network in eval mode normalises with BatchNorm's default\n"
    "statistics (mean 0, variance 1), not the data's (measure.calibrate_batchnorm estimates them). Keep\n"
    "width and seed: the same initial weights."
)
SUPCON_RUNS = (  # the runs the floor is asked for: the notebook's quick SupCon run, and another
    dict(loss="SupCon", alpha=0.0, epochs=8, width=16, batch_size=128, seed=0, calibrate_bn=False),
    dict(loss="SupCon + cNCE", alpha=2.0, epochs=30, width=32, batch_size=256, seed=4, calibrate_bn=False),
)


def _floor_problem(method: dict, floor: dict) -> str | None:
    """Why ``floor`` is not the untrained, calibrated network of ``method``, or None."""
    for key, least in (("epochs", 0), ("width", 1), ("seed", 0)):
        setting_is_number(floor, key, name=FLOOR, integer=True, minimum=least)
    if not isinstance(floor["calibrate_bn"], bool):
        return f"calibrate_bn must be True or False, not {floor['calibrate_bn']!r}"
    if floor["epochs"] != 0:
        return (
            f"a trained run (epochs = {floor['epochs']}) is not the floor: the floor is what the network "
            "gives before any training, epochs = 0"
        )
    if not floor["calibrate_bn"]:
        return (
            "BatchNorm is not calibrated: in eval mode an untrained network normalises with the default "
            "running statistics (mean 0, variance 1), not the data's, and maps every image to nearly the "
            "same point, so the floor is not the network's real start (calibrate_bn = True)"
        )
    if floor["width"] != method["width"]:
        smaller = "smaller" if floor["width"] < method["width"] else "larger"
        return (
            f"a {smaller} encoder (width {floor['width']}, the run's is {method['width']}): the floor must "
            "be the network the run starts from, or the trained run's lead is partly the width's"
        )
    if floor["seed"] != method["seed"]:
        return (
            "another seed gives other initial weights: the floor is the run's own starting point (same "
            "seed), so the difference from it is what training did"
        )
    other = {k: v for k, v in changed_factors(method, floor).items() if k not in ("epochs", "calibrate_bn")}
    if other:
        return (
            f"the floor changes {describe_changes(other)}: it is the run's own network, with only epochs and "
            "calibrate_bn changed"
        )
    return None


@exercise(FLOOR, reference=untrained_floor, hint=FLOOR_HINT)
def check_choose_floor(student_fn) -> bool:
    """Check ``student_fn(method) -> floor``: ``method``'s network untrained, BatchNorm calibrated."""
    return check_design(
        student_fn,
        SUPCON_RUNS,
        _floor_problem,
        name=FLOOR,
        run_label="Run",
        success="The run's own initial network, BatchNorm calibrated: training's gain is above it.",
    )
