"""Notebook 07 checkers: the reference passes; each typical mistake gets its own message."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.lessons import supcon as lesson

# ----------------------------------------------------------------------------- the positive mask


def mask_reference(labels):
    return (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)


def test_positive_mask_reference_passes(capsys):
    assert exercises.check_positive_mask(mask_reference) is True
    assert "correct" in capsys.readouterr().out


def test_positive_mask_accepts_zero_one_integers():
    assert exercises.check_positive_mask(lambda y: mask_reference(y).long())


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda y: y[:, None] == y[None, :], "anchor is counted as its own positive"),
        (lambda y: y[:, None] != y[None, :], "views of the \\*other\\* classes"),
        (lambda y: mask_reference(y)[:, :-1], "shape"),
        (lambda y: mask_reference(y).double(), "boolean mask"),
        (lambda y: mask_reference(y).tolist(), "torch.Tensor"),
        (
            lambda y: mask_reference(y) & (torch.arange(len(y))[None, :] % 2 == 1),
            "entry \\(\\d+, \\d+\\) is False",
        ),
        (lambda y: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_positive_mask_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_positive_mask(wrong)


# ----------------------------------------------------------------------------- one anchor's loss


def anchor_reference(z, labels, i, temperature):
    s = z @ z[i] / temperature  # (M,)
    others = torch.arange(len(z)) != i
    positives = others & (labels == labels[i])
    return -(s[positives] - torch.logsumexp(s[others], dim=0)).mean()


def anchor_loop(z, labels, i, temperature):
    """Written term by term from Khosla et al. 2020, Eq. 2, in Python floats."""
    rows = z.tolist()
    s = [sum(a * b for a, b in zip(rows[i], row)) / temperature for row in rows]
    denominator = sum(math.exp(v) for a, v in enumerate(s) if a != i)
    positives = [p for p in range(len(rows)) if p != i and labels[p] == labels[i]]
    return -sum(math.log(math.exp(s[p]) / denominator) for p in positives) / len(positives)


def self_positive(z, labels, i, temperature):
    s = z @ z[i] / temperature
    positives = labels == labels[i]  # includes i
    return -(s[positives] - torch.logsumexp(s, dim=0)).mean()


def self_in_denominator(z, labels, i, temperature):
    s = z @ z[i] / temperature
    positives = (torch.arange(len(z)) != i) & (labels == labels[i])
    return -(s[positives] - torch.logsumexp(s, dim=0)).mean()


def log_inside(z, labels, i, temperature):
    s = z @ z[i] / temperature
    others = torch.arange(len(z)) != i
    positives = others & (labels == labels[i])
    return -torch.log(torch.exp(s[positives]).mean() / torch.exp(s[others]).sum())


def summed(z, labels, i, temperature):
    return anchor_reference(z, labels, i, temperature) * int((labels == labels[i]).sum() - 1)


def negatives_only_denominator(z, labels, i, temperature):
    s = z @ z[i] / temperature
    others = torch.arange(len(z)) != i
    positives = others & (labels == labels[i])
    return -(s[positives] - torch.logsumexp(s[others & ~positives], dim=0)).mean()


def no_temperature(z, labels, i, temperature):
    return anchor_reference(z, labels, i, 1.0)


def flipped_sign(z, labels, i, temperature):
    return -anchor_reference(z, labels, i, temperature)


def test_anchor_reference_and_loop_pass():
    assert exercises.check_supcon_anchor(anchor_reference) is True
    assert exercises.check_supcon_anchor(anchor_loop) is True


@pytest.mark.parametrize(
    "wrong, message",
    [
        (self_positive, "anchor is counted as its own positive"),
        (self_in_denominator, "anchor is in its own denominator"),
        (log_inside, "averaged inside the log \\(L\\^sup_in\\)"),
        (summed, "summed over the positives"),
        (negatives_only_denominator, "other positives are missing from the denominator"),
        (no_temperature, "temperature is missing"),
        (flipped_sign, "sign is flipped"),
        (
            lambda z, labels, i, temperature: anchor_reference(z, labels, i, temperature) + 0.1,
            "Check A\\(i\\)",
        ),
        (lambda z, labels, i, temperature: torch.zeros(2), "return one number"),
        (lambda z, labels, i, temperature: None, "no return statement"),
    ],
)
def test_anchor_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_supcon_anchor(wrong)


def test_anchor_messages_show_the_numbers():
    with pytest.raises(ExerciseError, match=r"yours -?\d+\.\d{6}, expected \d+\.\d{6}"):
        exercises.check_supcon_anchor(self_positive)


# ------------------------------------------------------------ registry: fallback, hint, solution

MASK_MISTAKES = [
    (lambda y: y[:, None] == y[None, :], "anchor is counted as its own positive"),
    (lambda y: y[:, None] != y[None, :], "views of the *other* classes"),
    (lambda y: mask_reference(y)[:, :-1], "shape"),
    (lambda y: mask_reference(y).double(), "boolean mask"),
]
ANCHOR_MISTAKES = [
    (self_positive, "anchor is counted as its own positive"),
    (self_in_denominator, "anchor is in its own denominator"),
    (log_inside, "averaged inside the log (L^sup_in)"),
    (summed, "summed over the positives"),
    (negatives_only_denominator, "other positives are missing from the denominator"),
    (no_temperature, "temperature is missing"),
    (flipped_sign, "sign is flipped"),
]


@pytest.mark.parametrize(
    ("check", "solution", "mistakes"),
    [
        (exercises.check_positive_mask, mask_reference, MASK_MISTAKES),
        (exercises.check_supcon_anchor, anchor_loop, ANCHOR_MISTAKES),
    ],
)
def test_verify_checker(check, solution, mistakes):
    exercises.verify_checker(check, solution, mistakes)


def test_fallback_picks_the_students_function_or_the_reference(capsys):
    def stub(labels):
        raise NotImplementedError("compare labels")

    assert exercises.check_positive_mask(stub, fallback=True) is lesson.positive_mask
    assert "not written yet" in capsys.readouterr().out
    assert exercises.check_supcon_anchor(self_positive, fallback=True) is lesson.supcon_anchor
    out = capsys.readouterr().out
    assert "own positive" in out and "uses the package's edu_contrast.lessons.supcon.supcon_anchor" in out
    assert exercises.check_supcon_anchor(anchor_loop, fallback=True) is anchor_loop
    assert "uses your supcon_anchor" in capsys.readouterr().out


def test_hints(capsys):
    exercises.hint("positive_mask")
    out = capsys.readouterr().out
    assert out.startswith("positive_mask(labels: torch.Tensor)") and "~torch.eye" in out
    exercises.hint("supcon_anchor")
    out = capsys.readouterr().out
    assert out.startswith("supcon_anchor(z: torch.Tensor, labels: torch.Tensor, i: int, temperature: float)")
    assert "logsumexp" in out and "show_solution('supcon_anchor')" in out


# ------------------------------------------------------------------------- choosing the baseline (a design)


def baseline(method):
    return {**method, "loss": "SimCLR", "temperature": 0.5}


def with_changes(**changes):
    """A baseline that is the reference one with ``changes`` (a value, or a function of the run's value)."""

    def design(method):
        return {
            **baseline(method),
            **{k: v(method[k]) if callable(v) else v for k, v in changes.items()},
        }

    return design


def copied_literal(method):  # the notebook's quick run written out: wrong for any other run
    return dict(loss="SimCLR", temperature=0.5, epochs=15, width=16, batch_size=128, lr=3e-3, seed=0)


BASELINE_MISTAKES = [
    (lambda method: dict(method), "uses labels"),
    (with_changes(loss="cross-entropy"), "uses labels"),
    (with_changes(loss="BYOL"), "loss must be one of"),
    (with_changes(epochs=0), "untrained encoder"),
    (with_changes(epochs=lambda e: e // 2), "fewer epochs"),
    (with_changes(width=lambda w: w // 2), "smaller encoder"),
    (with_changes(batch_size=lambda b: b // 4), "smaller batch"),
    (with_changes(epochs=lambda e: 2 * e), "no longer at one budget"),
    (with_changes(lr=lambda lr: 10 * lr), "another learning rate"),
    (with_changes(seed=lambda s: s + 1), "another seed"),
    (with_changes(temperature=0), "temperature must be positive"),
    (with_changes(temperature="warm"), "temperature must be"),
    (copied_literal, "no longer at one budget"),
    (lambda method: {"loss": "SimCLR"}, "missing ["),
    (with_changes(optimizer="LARS"), "unknown ['optimizer']"),
    (lambda method: None, "no return statement"),
]


def test_choose_baseline_accepts_the_reference_and_refuses_each_wrong_design():
    exercises.verify_checker(exercises.check_choose_baseline, baseline, BASELINE_MISTAKES)
    exercises.verify_checker(exercises.check_choose_baseline, lesson.label_free_baseline, [])


def test_choose_baseline_accepts_another_temperature_and_compares_with_the_run_it_gave():
    assert exercises.check_choose_baseline(with_changes(temperature=0.2)) is True

    def edits_in_place(method):  # the checker compares with the run it gave, not with the edited copy
        method["epochs"] = 1
        return baseline(method)

    with pytest.raises(ExerciseError, match="fewer epochs"):
        exercises.check_choose_baseline(edits_in_place)


def test_the_checked_run_is_the_notebooks_quick_run():
    from edu_contrast.exercises.supcon import RUNS

    size = lesson.scale("quick")
    quick = {k: size[k] for k in ("epochs", "width", "batch_size")}
    assert {k: RUNS[0][k] for k in quick} == quick and RUNS[0]["loss"] == "SupCon"
    notebook = (Path(__file__).resolve().parents[1] / "notebooks" / "07_supcon.ipynb").read_text()
    assert "choose_baseline(SUPCON_RUN)" in notebook
