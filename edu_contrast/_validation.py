"""Argument checks shared by every public function.

Messages follow scikit-learn's form so a student can act on them:
"The 'temperature' parameter of nt_xent must be > 0. Got -1.0 instead."
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def fail(name: str, where: str, expected: str, got: object, error=ValueError):
    """Raise ``error`` with the one message form every check uses (the only place it is written)."""
    raise error(f"The '{name}' parameter of {where} must be {expected}. Got {got} instead.")


def check_positive(value, name: str, where: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``), returned as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        else:
            fail(name, where, "a real number", f"{value!r} of type {type(value).__name__}", TypeError)
    value = float(value)
    bound = ">= 0" if allow_zero else "> 0"
    if math.isnan(value) or math.isinf(value):
        fail(name, where, f"a finite number {bound}", value)
    if value < 0 or (value == 0 and not allow_zero):
        fail(name, where, bound, value)
    return value


def check_int(value, name: str, where: str, *, minimum: int = 1) -> int:
    """An integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(name, where, f"an int >= {minimum}", f"{value!r} of type {type(value).__name__}", TypeError)
    if value < minimum:
        fail(name, where, f"an int >= {minimum}", value)
    return value


def check_choice(value, name: str, where: str, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = tuple(choices)
    if value not in choices:
        fail(name, where, "one of " + ", ".join(repr(c) for c in choices), repr(value))
    return value


def check_embeddings(
    x, name: str, where: str, *, ndim: int = 2, min_rows: int = 1, shape_hint: str = "(batch, dim)"
) -> torch.Tensor:
    """A finite floating-point tensor with ``ndim`` dimensions and at least ``min_rows`` rows."""
    if not isinstance(x, torch.Tensor):
        fail(
            name,
            where,
            f"a torch.Tensor of shape {shape_hint}",
            f"an object of type {type(x).__name__}",
            TypeError,
        )
    if not torch.is_floating_point(x):
        fail(name, where, "a floating-point tensor", f"dtype {x.dtype}", TypeError)
    if x.dim() != ndim:
        fail(name, where, f"a {ndim}-D tensor of shape {shape_hint}", f"shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        fail(name, where, f"a tensor with at least {min_rows} rows (samples)", f"shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        fail(name, where, "a tensor with at least one feature", f"shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        fail(
            name,
            where,
            "finite (no NaN or inf)",
            f"{bad} non-finite values; check the encoder output and learning rate",
        )
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str, where: str) -> None:
    """Two tensors that pair up row by row."""
    if a.shape != b.shape:
        fail(name_b, where, f"the same shape as '{name_a}' {tuple(a.shape)}", f"shape {tuple(b.shape)}")


def check_labels(labels, n: int, name: str, where: str) -> torch.Tensor:
    """Integer class labels, one per sample."""
    if not isinstance(labels, torch.Tensor):
        labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dtype.is_complex:
        fail(name, where, "an integer tensor of class labels", f"dtype {labels.dtype}", TypeError)
    if labels.dim() != 1 or labels.shape[0] != n:
        fail(name, where, f"a 1-D tensor of {n} labels (one per sample)", f"shape {tuple(labels.shape)}")
    return labels


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Losses compute in float32 at least, so float16/bfloat16 inputs stay finite (float64 stays float64)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32
