"""Notebook 08 checker: the 1-D squared Wasserstein distance; each typical mistake gets its own message."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.lessons import generalized as lesson


def reference(a, b):
    return (a.sort().values - b.sort().values).pow(2).mean()


def loop(a, b):
    """Written from the definition in Python floats: match the i-th smallest with the i-th smallest."""
    xs, ys = sorted(a.tolist()), sorted(b.tolist())
    return sum((x - y) ** 2 for x, y in zip(xs, ys)) / len(xs)


def descending_both(a, b):
    return (a.sort(descending=True).values - b.sort(descending=True).values).pow(2).mean()


def test_reference_loop_and_descending_pass(capsys):
    assert exercises.check_wasserstein_1d(reference) is True
    assert exercises.check_wasserstein_1d(loop) is True
    assert exercises.check_wasserstein_1d(descending_both) is True  # the same pairs, in the other order
    assert "reproduces losses.sliced_wasserstein" in capsys.readouterr().out


# The typical mistakes the checker names (verify_checker below runs them through the registry, too).
MISTAKES = [
    (lambda a, b: (a - b).pow(2).mean(), "in the order they came"),
    (lambda a, b: (a.sort().values - b).pow(2).mean(), "only a is sorted"),
    (lambda a, b: (a - b.sort().values).pow(2).mean(), "only b is sorted"),
    (lambda a, b: (a.sort().values - b.sort(descending=True).values).pow(2).mean(), "descending"),
    (lambda a, b: (a.sort().values - b.sort().values).abs().mean(), "1-Wasserstein"),
    (lambda a, b: (a.sort().values - b.sort().values).pow(2).sum(), "summed over the n pairs"),
    (lambda a, b: reference(a, b).sqrt(), "square root"),
    (lambda a, b: (a.mean() - b.mean()) ** 2, "only the means"),
]


@pytest.mark.parametrize(
    "wrong, message",
    [
        *MISTAKES,
        (lambda a, b: reference(a, b) + 0.01, "your function returned"),
        (lambda a, b: (a.sort().values - b.sort().values).pow(2), "return one number"),
        (lambda a, b: a.nosuchmethod(), "AttributeError"),
    ],
)
def test_mistakes(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_wasserstein_1d(wrong)


def test_a_distance_wrong_only_inside_the_slice_is_caught():
    """Correct on the 1-D cases but not on the projections (here: wrong for float64 inputs of length 40)."""

    def sneaky(a, b):
        value = reference(a, b)
        return value * 1.5 if len(a) == 40 else value

    with pytest.raises(ExerciseError, match="losses.sliced_wasserstein"):
        exercises.check_wasserstein_1d(sneaky)


def test_not_a_function():
    with pytest.raises(TypeError, match="'student_fn'"):
        exercises.check_wasserstein_1d(torch.zeros(3))


# ---------------------------------------------------------------- registry: fallback, hint, solution


def test_verify_checker():
    exercises.verify_checker(exercises.check_wasserstein_1d, loop, MISTAKES)


def test_fallback_and_hint(capsys):
    def stub(a, b):
        raise NotImplementedError("sort both, average the squared differences")

    assert exercises.check_wasserstein_1d(stub, fallback=True) is lesson.wasserstein_1d
    out = capsys.readouterr().out
    assert (
        "not written yet" in out
        and "uses the package's edu_contrast.lessons.generalized.wasserstein_1d" in out
    )
    assert exercises.check_wasserstein_1d(MISTAKES[0][0], fallback=True) is lesson.wasserstein_1d
    assert "in the order they came" in capsys.readouterr().out
    assert exercises.check_wasserstein_1d(loop, fallback=True) is loop
    assert "uses your wasserstein_1d" in capsys.readouterr().out
    exercises.hint("wasserstein_1d")
    out = capsys.readouterr().out
    assert out.startswith("wasserstein_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor")
    assert "i-th smallest" in out and "show_solution('wasserstein_1d')" in out
