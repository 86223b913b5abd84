"""exercises.check_quantize_uint8: accepts the reference, names each typical mistake."""

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError


def reference(t, scale, zero_point):
    return (torch.round(t / scale) + zero_point).clamp(0, 255).to(torch.uint8)


def test_accepts_the_reference(capsys):
    assert exercises.check_quantize_uint8(reference) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (lambda t, s, z: (torch.round(t / s) + z).to(torch.int64).remainder(256).to(torch.uint8), "clip"),
        (lambda t, s, z: (torch.floor(t / s) + z).clamp(0, 255).to(torch.uint8), "round"),
        (lambda t, s, z: (torch.round(t / s) - z).clamp(0, 255).to(torch.uint8), "added"),
        (lambda t, s, z: (torch.round(t * s) + z).clamp(0, 255).to(torch.uint8), "multiply"),
        (lambda t, s, z: (torch.round(t / s) + z).clamp(0, 255), "uint8"),
        (lambda t, s, z: None, "no return"),
        (lambda t, s, z: reference(t, s, z).flatten(), "shape"),
        (lambda t, s, z: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_quantize_uint8(wrong)
