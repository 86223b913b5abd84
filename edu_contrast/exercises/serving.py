"""Checker for notebook 10: uint8 quantization of a tensor, the step int8 serving applies everywhere.

``check_quantize_uint8(fn)``: ``fn(t, scale, zero_point)`` returns q = clip(round(t / s) + z, 0, 255) as a
uint8 tensor of t's shape, compared with ``lessons.serving.quantize_uint8``. A wrong answer is matched
against the typical mistakes (no clipping, floor instead of round, z subtracted, s multiplied).
``check_quantize_uint8(fn, fallback=True)`` returns the function the notebook goes on with (``_registry``).
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.serving import quantization_params, quantize_uint8

__all__ = ["check_quantize_uint8"]

NAME = "check_quantize_uint8"


def _mistakes(t: torch.Tensor, scale: float, z: int):
    return [
        (
            (torch.round(t / scale) + z).to(torch.int64) % 256,
            "values outside [0, 255] wrapped around: clip to [0, 255] (clamp) before converting to uint8",
        ),
        (
            (torch.floor(t / scale) + z).clamp(0, 255),
            "you truncated (floor or int()) instead of rounding to the nearest integer: use torch.round",
        ),
        (
            (torch.round(t / scale) - z).clamp(0, 255),
            "the zero point is added, q = round(t/s) + z, not subtracted",
        ),
        ((torch.round(t * scale) + z).clamp(0, 255), "divide by the scale s (t / s), do not multiply"),
        ((torch.round(t) + z).clamp(0, 255), "forgot to divide by the scale s"),
    ]


def _cases():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(4, 50, generator=g) * 2  # (4, 50), some values beyond the calibrated range
    scale, z = quantization_params(-3.0, 3.0)
    yield t, scale, z
    yield torch.rand(3, 7, generator=g) * 6, *quantization_params(0.0, 5.0)  # ReLU outputs: z = 0


HINT = (
    "Four steps, each one torch call: divide t by the scale s, round to the nearest integer (torch.round),\n"
    "add the zero point z, clip to [0, 255] (.clamp), then convert with .to(torch.uint8). Clip before the\n"
    "conversion: uint8 wraps 256 around to 0."
)


@exercise("quantize_uint8", reference=quantize_uint8, hint=HINT)
def check_quantize_uint8(student_fn) -> bool:
    """Check ``student_fn(t, scale, zero_point) -> uint8 q`` against ``lessons.serving.quantize_uint8``."""
    for t, scale, z in _cases():
        expected = quantize_uint8(t, scale, z)
        got = call_student(student_fn, t.clone(), scale, z, name=NAME)
        if not isinstance(got, torch.Tensor):
            kind = "None (no return statement?)" if got is None else type(got).__name__
            raise ExerciseError(f"{NAME}: return a uint8 tensor of t's shape. Got {kind}.")
        if got.shape != t.shape:
            raise ExerciseError(
                f"{NAME}: q has shape {tuple(got.shape)}; it must keep t's shape {tuple(t.shape)}."
            )
        if torch.equal(got.to(torch.int64), expected.to(torch.int64)):
            if got.dtype != torch.uint8:
                raise ExerciseError(
                    f"{NAME}: the values are right; return them as uint8 (.to(torch.uint8)), not {got.dtype}."
                )
            continue
        for wrong, hint in _mistakes(t, scale, z):
            if torch.equal(got.to(torch.int64), wrong.to(torch.int64)):
                raise ExerciseError(f"{NAME}: {hint}.")
        bad = int((got.to(torch.int64) != expected.to(torch.int64)).sum())
        raise ExerciseError(
            f"{NAME}: {bad} of {t.numel()} values differ from q = clip(round(t / s) + z, 0, 255) "
            f"(s = {scale:.4g}, z = {z})."
        )
    return passed(NAME, "This is what QuantizeLinear does to every activation of the int8 graph.")
