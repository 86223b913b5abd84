"""Checker of notebook 12: the reference passes, each typical mistake gets its own message."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from edu_contrast import exercises
from edu_contrast.augment import BatchColorJitter
from edu_contrast.exercises import ExerciseError, verify_checker
from edu_contrast.exercises.augmentation import check_adjust_saturation
from edu_contrast.lessons import augmentation as lesson


def correct(images, factor):
    gray = (0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)  # (B, 1, H, W)
    f = factor.view(-1, 1, 1, 1)
    return torch.clamp(f * images + (1 - f) * gray, 0, 1)


def with_torchvision(images, factor):
    """Another correct solution: torchvision's adjust_saturation image by image."""
    return torch.stack([TF.adjust_saturation(x, float(f)) for x, f in zip(images, factor)])


def channel_mean(images, factor):
    f = factor.view(-1, 1, 1, 1)
    return (f * images + (1 - f) * images.mean(dim=1, keepdim=True)).clamp(0, 1)


def unclamped(images, factor):
    gray = (0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)
    f = factor.view(-1, 1, 1, 1)
    return f * images + (1 - f) * gray


def reversed_blend(images, factor):
    return correct(images, 1 - factor)


def contrast_instead(images, factor):
    gray = (0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)
    f = factor.view(-1, 1, 1, 1)
    return (f * images + (1 - f) * gray.mean(dim=(2, 3), keepdim=True)).clamp(0, 1)


def factor_along_width(images, factor):
    gray = (0.2989 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1)
    return (factor * images + (1 - factor) * gray).clamp(0, 1)


def in_place(images, factor):
    images.mul_(1.0)
    images.add_(1e-3)
    return correct(images, factor)


def gray_only_shape(images, factor):
    return correct(images, factor)[:, :1]


def test_reference_and_named_mistakes():
    verify_checker(
        check_adjust_saturation,
        correct,
        [
            (channel_mean, "luma weights"),
            (unclamped, "not clamped"),
            (reversed_blend, "reversed"),
            (contrast_instead, "contrast step"),
            (factor_along_width, "(B, 1, 1, 1)"),
            (in_place, "in place"),
            (gray_only_shape, "shape (8, 1, 8, 8), expected (8, 3, 8, 8)"),
            (lambda images, factor: None, "the saturated images"),
        ],
    )


def test_torchvision_and_the_packages_jitter_step_pass():
    assert check_adjust_saturation(with_torchvision) is True
    step = lambda images, factor: BatchColorJitter.apply(images, {"saturation": factor}, ["saturation"])  # noqa: E731
    assert check_adjust_saturation(step) is True


def test_a_crash_is_reported_with_the_exercise_name():
    def crashes(images, factor):
        raise RuntimeError("boom")

    with pytest.raises(ExerciseError, match="adjust_saturation: your function raised RuntimeError: boom"):
        check_adjust_saturation(crashes)


def test_fallback_returns_the_reference_until_the_student_passes(capsys):
    assert check_adjust_saturation(channel_mean, fallback=True) is lesson.adjust_saturation
    assert check_adjust_saturation(correct, fallback=True) is correct
    assert "luma weights" in capsys.readouterr().out


def test_the_hint_names_the_steps(capsys):
    # The stub, solution and fallback checks of every exercise: tests/test_solutions.py.
    exercises.hint("adjust_saturation")
    out = capsys.readouterr().out
    assert out.startswith("adjust_saturation(images") and "0.2989" in out and "(B, 1, 1, 1)" in out
