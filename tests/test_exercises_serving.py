"""exercises.check_quantize_uint8: accepts the reference, names each typical mistake, falls back."""

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.lessons import serving as lesson


def reference(t, scale, zero_point):
    return (torch.round(t / scale) + zero_point).clamp(0, 255).to(torch.uint8)


MISTAKES = [
    (lambda t, s, z: (torch.round(t / s) + z).to(torch.int64).remainder(256).to(torch.uint8), "clip"),
    (lambda t, s, z: (torch.floor(t / s) + z).clamp(0, 255).to(torch.uint8), "round"),
    (lambda t, s, z: (torch.round(t / s) - z).clamp(0, 255).to(torch.uint8), "added"),
    (lambda t, s, z: (torch.round(t * s) + z).clamp(0, 255).to(torch.uint8), "multiply"),
    (lambda t, s, z: (torch.round(t) + z).clamp(0, 255).to(torch.uint8), "forgot to divide"),
    (lambda t, s, z: (torch.round(t / s) + z).clamp(0, 255), "uint8"),
    (lambda t, s, z: None, "no return"),
    (lambda t, s, z: reference(t, s, z).flatten(), "shape"),
    (lambda t, s, z: 1 / 0, "ZeroDivisionError"),
    (lambda t, s, z: (torch.round(t / s) + z + 1).clamp(0, 255).to(torch.uint8), "values differ"),
]


def test_accepts_the_solution_and_names_every_mistake(capsys):
    exercises.verify_checker(exercises.check_quantize_uint8, reference, MISTAKES)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "message"), MISTAKES)
def test_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_quantize_uint8(wrong)


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert exercises.check_quantize_uint8(reference, fallback=True) is reference
    assert "uses your quantize_uint8" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(t, scale, zero_point):
        raise NotImplementedError("divide, round, add z, clip, convert")

    assert exercises.check_quantize_uint8(stub, fallback=True) is lesson.quantize_uint8
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.lessons.serving.quantize_uint8" in out
    assert exercises.check_quantize_uint8(MISTAKES[1][0], fallback=True) is lesson.quantize_uint8
    assert "round" in capsys.readouterr().out
