"""Notebook 14's checker passes the reference and names each usual mistake of the class-conditional mask."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import exercises, losses
from edu_contrast.exercises import ExerciseError, verify_checker
from edu_contrast.exercises.class_collapse import check_class_conditional_negatives
from edu_contrast.lessons.class_collapse import class_conditional_loss_from_mask, class_conditional_negatives


def solution(labels):
    y = labels.repeat(2)  # (2N,)
    n = len(labels)
    same = y[:, None] == y[None, :]
    i = torch.arange(2 * n)
    partner = (i[:, None] - i[None, :]).abs() == n  # k = i ± N: the other view
    return same & (i[:, None] != i[None, :]) & ~partner


def with_self(labels):
    y = labels.repeat(2)
    n = len(labels)
    i = torch.arange(2 * n)
    return (y[:, None] == y[None, :]) & ((i[:, None] - i[None, :]).abs() != n)


def with_positive(labels):
    y = labels.repeat(2)
    return (y[:, None] == y[None, :]) & ~torch.eye(len(y), dtype=torch.bool)


def other_classes(labels):
    y = labels.repeat(2)
    return y[:, None] != y[None, :]


def interleaved(labels):
    y = labels.repeat_interleave(2)
    n = len(labels)
    i = torch.arange(2 * n)
    return (y[:, None] == y[None, :]) & (i[:, None] != i[None, :]) & ((i[:, None] - i[None, :]).abs() != n)


def over_samples(labels):
    return (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)


def as_float(labels):
    return solution(labels).float()


def returns_nothing(labels):
    solution(labels)


def test_checker_passes_the_solution_and_names_each_mistake():
    mistakes = [
        (with_self, "the anchor itself"),
        (with_positive, "the positive i⁺"),
        (other_classes, "SupCon's negatives"),
        (interleaved, "repeat_interleave"),
        (over_samples, "2N"),
        (as_float, "bool"),
        (returns_nothing, "no return statement"),
    ]
    verify_checker(check_class_conditional_negatives, solution, mistakes)


def test_checker_reports_a_crash_and_a_wrong_entry():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        check_class_conditional_negatives(lambda labels: 1 / 0)

    def one_wrong(labels):
        mask = solution(labels)
        mask[0, 2] = ~mask[0, 2]
        return mask

    with pytest.raises(ExerciseError, match=r"entry \(0, 2\)"):
        check_class_conditional_negatives(one_wrong)


def test_fallback_gives_the_reference_until_the_student_function_passes(capsys):
    assert check_class_conditional_negatives(with_self, fallback=True) is class_conditional_negatives
    assert check_class_conditional_negatives(solution, fallback=True) is solution
    assert "the anchor itself" in capsys.readouterr().out


@pytest.mark.parametrize("labels", [[0, 1, 0, 2, 1, 0], [4, 4, 4], [0, 1, 2]])
def test_the_mask_gives_the_package_loss(labels):
    """The loss written from the reference mask is losses.class_conditional_nt_xent (its loop oracle)."""
    labels = torch.tensor(labels)
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(len(labels), 5, generator=g), torch.randn(len(labels), 5, generator=g)
    mask = class_conditional_negatives(labels)
    by_mask = class_conditional_loss_from_mask(z1, z2, mask, temperature=0.3)
    package = losses.class_conditional_nt_xent(z1.double(), z2.double(), labels, temperature=0.3)
    torch.testing.assert_close(by_mask, package)
    wrong = class_conditional_loss_from_mask(z1, z2, other_classes(labels), temperature=0.3)
    assert not torch.isclose(wrong, package) or len(set(labels.tolist())) == 1


def test_the_hint_names_the_steps(capsys):
    exercises.hint("class_conditional_negatives")
    out = capsys.readouterr().out
    assert out.startswith("class_conditional_negatives(labels") and "repeat(2)" in out


# ----------------------------------------------------------------------------- choosing the floor (a design)


def floor(method):
    return {**method, "epochs": 0, "calibrate_bn": True}


def floor_with(**changes):
    return lambda method: {**floor(method), **changes}


FLOOR_MISTAKES = [
    (lambda method: dict(method), "a trained run"),
    (floor_with(calibrate_bn=False), "BatchNorm is not calibrated"),
    (floor_with(epochs=1), "a trained run (epochs = 1)"),
    (floor_with(width=8), "a smaller encoder"),
    (floor_with(width=64), "a larger encoder"),
    (floor_with(seed=99), "another seed"),
    (floor_with(loss="SimCLR"), "changes loss 'SupCon' → 'SimCLR'"),
    (floor_with(batch_size=1), "only epochs and calibrate_bn changed"),
    (floor_with(calibrate_bn="yes"), "calibrate_bn must be True or False"),
    (floor_with(epochs=-1), "epochs must be an integer ≥ 0"),
    (lambda method: {"epochs": 0, "calibrate_bn": True}, "missing ['loss'"),
    (lambda method: None, "no return statement"),
]


def test_choose_floor_accepts_the_reference_and_refuses_each_wrong_design():
    from edu_contrast.exercises.class_collapse import check_choose_floor
    from edu_contrast.lessons.class_collapse import untrained_floor

    verify_checker(check_choose_floor, floor, FLOOR_MISTAKES)
    verify_checker(check_choose_floor, untrained_floor, [])


def test_the_checked_run_is_the_notebooks_and_the_floor_is_the_random_encoder():
    from edu_contrast.exercises.class_collapse import SUPCON_RUNS
    from edu_contrast.lessons import class_collapse as lesson

    assert lesson.supcon_run("quick", seed=0) == SUPCON_RUNS[0]
    with pytest.raises(ValueError, match="'floor' parameter of floor_scores"):
        lesson.floor_scores({**SUPCON_RUNS[0], "epochs": 3}, {})
