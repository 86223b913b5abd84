"""Checker for notebook 12 (augmentation strength): SimCLR's saturation step, written by the student.

``check_adjust_saturation(fn)``: ``fn(images, factor)`` blends each ``(3, H, W)`` image with its gray
version by its own factor f (torchvision's ``adjust_saturation``, one of the four steps of SimCLR's
colour jitter; Chen et al. 2020, Appendix A):

    gray = 0.2989·R + 0.587·G + 0.114·B,   out = clamp(f·x + (1 − f)·gray, 0, 1).
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import ExerciseError, call_student, expect_close, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons import augmentation as lesson

__all__ = ["check_adjust_saturation"]

NAME = "adjust_saturation"
FACTORS = (0.0, 0.3, 0.7, 1.0, 1.3, 1.8, 2.0, 0.5)  # f per image: gray, duller, itself, more colourful


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """8 random (3, 8, 8) images (B = W = 8, so a factor broadcast along W runs and is caught) and f."""
    generator = torch.Generator().manual_seed(12)
    images = torch.rand(len(FACTORS), 3, 8, 8, generator=generator, dtype=torch.float64)
    return images, torch.tensor(FACTORS, dtype=torch.float64)


def _blend(images, factor, gray, *, clamp=True):
    out = factor.view(-1, 1, 1, 1) * images + (1 - factor.view(-1, 1, 1, 1)) * gray  # (B, 3, H, W)
    return out.clamp(0, 1) if clamp else out


def _luma(images):
    r, g, b = images.unbind(dim=1)  # (B, H, W) each
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)  # (B, 1, H, W)


def _mistakes(images, factor) -> dict[str, torch.Tensor]:
    """What typical wrong versions return, and the sentence that names each."""
    gray = _luma(images)
    return {
        "the gray image is the plain mean of R, G and B; use the luma weights 0.2989·R + 0.587·G + 0.114·B "
        "(green looks brighter to the eye than blue)": _blend(
            images, factor, images.mean(dim=1, keepdim=True)
        ),
        "the result is not clamped to [0, 1]: f > 1 pushes colours out of range": _blend(
            images, factor, gray, clamp=False
        ),
        "the blend is reversed: f·gray + (1 − f)·x turns f = 0 into the image and f = 1 into gray": _blend(
            images, 1 - factor, gray
        ),
        "that blends with the mean gray level of the whole image, which is the contrast step; saturation "
        "blends each pixel with its own gray": _blend(images, factor, gray.mean(dim=(2, 3), keepdim=True)),
        "the factor is broadcast along the image width; reshape f to (B, 1, 1, 1), one factor per image": (
            factor * images + (1 - factor) * gray
        ).clamp(0, 1),
    }


@exercise(
    NAME,
    reference=lesson.adjust_saturation,
    hint="gray = 0.2989·R + 0.587·G + 0.114·B per pixel (keep the channel axis: (B, 1, H, W)); reshape "
    "factor to (B, 1, 1, 1); then clamp(f·x + (1 − f)·gray, 0, 1).",
)
def check_adjust_saturation(student_fn) -> bool:
    """Run ``student_fn(images, factor)`` on 8 images with f ∈ {0, …, 2}; True when it equals the reference
    (``lesson.adjust_saturation``), else an ExerciseError naming the mistake."""
    images, factor = _inputs()
    expected = lesson.adjust_saturation(images, factor)
    got = call_student(student_fn, images, factor, name=NAME)
    if not torch.equal(images, _inputs()[0]):
        raise ExerciseError(f"{NAME}: your function changed its input images in place; return a new tensor.")
    if not isinstance(got, torch.Tensor):
        got_text = "None (no return statement?)" if got is None else type(got).__name__
        raise ExerciseError(f"{NAME}: return the saturated images, a (B, 3, H, W) tensor. Got {got_text}.")
    if got.shape == expected.shape:
        got = got.detach().to(expected.dtype)
        if not torch.allclose(got, expected, atol=1e-6):
            for sentence, wrong in _mistakes(images, factor).items():
                if torch.allclose(got, wrong, atol=1e-6):
                    raise ExerciseError(f"{NAME}: {sentence}.")
    expect_close(got, expected, what="the saturated images", name=NAME, atol=1e-6)
    return passed(NAME, "f = 0 gives gray, f = 1 the image, f > 1 stronger colours.")
