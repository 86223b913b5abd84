"""Argument checks shared by every public function.

Messages follow scikit-learn's form so a student can act on them:
"The 'temperature' parameter of nt_xent must be > 0. Got -1.0 instead."

Checks of a tensor's *values* (finite embeddings, τ > 0 of a tensor) read the tensor on the host: on a
GPU each is a synchronisation that stalls the queue of work. A training loop that checks the values
itself, once in a while, runs its steps inside ``values_checked_by_caller()``; there the checks keep
every shape and type check and skip only the reads. Everywhere else (a student calling a loss) every
check runs.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from collections.abc import Iterable, Iterator

import numpy as np
import torch


def fail(name: str, where: str, expected: str, got: object, error=ValueError):
    """Raise ``error`` with the one message form every check uses (the only place it is written)."""
    raise error(f"The '{name}' parameter of {where} must be {expected}. Got {got} instead.")


_CALLER_CHECKS_VALUES = contextvars.ContextVar("values_checked_by_caller", default=False)


@contextlib.contextmanager
def values_checked_by_caller() -> Iterator[None]:
    """Inside this block the checks that would read a tensor's values skip the read (no device sync).

    Skipped: finite embeddings (``check_embeddings``), a tensor τ > 0 (``check_temperature``) and the
    methods' check that views are scaled to [0, 1]. Shapes, dtypes and plain numbers are still checked;
    ``check_positive`` of a tensor still reads it, since it returns a float. Everything that skips asks
    ``reads_tensor_values()``.

    For a training loop that detects non-finite values itself from numbers it reads anyway (``train.fit``
    checks the epoch's mean loss and the weights before it writes a checkpoint). Not for students' code:
    outside it a non-finite embedding is a clear ``ValueError`` at the call that received it.
    """
    token = _CALLER_CHECKS_VALUES.set(True)
    try:
        yield
    finally:
        _CALLER_CHECKS_VALUES.reset(token)


def reads_tensor_values() -> bool:
    """Whether a check may read a tensor's values: False inside ``values_checked_by_caller()``."""
    return not _CALLER_CHECKS_VALUES.get()


def plural(count: int, word: str) -> str:
    """``"1 row"``, ``"2 rows"``: a count with its noun, for messages."""
    return f"{count} {word if count == 1 else word + 's'}"


REAL = "a real number (a Python or NumPy number, or a one-element tensor)"


def _real(value, name: str, where: str) -> float:
    """A Python or NumPy real number, or a one-element tensor/array, as a float (bool, complex refused)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        _check_one_element(value, name, where)
        value = value.item()  # a Python int, float, bool or complex
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        fail(name, where, REAL, f"{value!r} of type {type(value).__name__}", TypeError)
    return float(value)


def _check_one_element(value, name: str, where: str) -> None:
    """A tensor or array that holds one number (its shape only: nothing is read)."""
    if math.prod(value.shape) != 1:
        fail(name, where, REAL, f"a {type(value).__name__} of shape {tuple(value.shape)}", TypeError)


def check_positive(value, name: str, where: str, *, allow_zero: bool = False) -> float:
    """A finite real number > 0 (or >= 0 with ``allow_zero``), returned as float.

    Python and NumPy numbers and one-element tensors/arrays are accepted; a tensor's gradient is
    not kept (``check_temperature`` keeps it).
    """
    value = _real(value, name, where)
    bound = ">= 0" if allow_zero else "> 0"
    if math.isnan(value) or math.isinf(value):
        fail(name, where, f"a finite number {bound}", value)
    if value < 0 or (value == 0 and not allow_zero):
        fail(name, where, bound, value)
    return value


def check_int(value, name: str, where: str, *, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (a Python or NumPy integer; bool refused), returned as int."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        fail(name, where, f"an int >= {minimum}", f"{value!r} of type {type(value).__name__}", TypeError)
    if value < minimum:
        fail(name, where, f"an int >= {minimum}", value)
    return int(value)


def check_temperature(value, name: str, where: str) -> float | torch.Tensor:
    """A temperature τ > 0 that may be learned, checked without cutting it out of the graph.

    A number (Python, NumPy) comes back as a float. A one-element floating-point tensor — an
    ``nn.Parameter``, or ``log_tau.exp()`` — comes back as a 0-dim view of itself, so dividing by it
    keeps the gradient path to τ. Its value is read (one device sync) to check it is finite and > 0,
    except inside ``values_checked_by_caller()``, where only its shape is checked.
    """
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        if reads_tensor_values():
            check_positive(value.detach(), name, where)
        else:
            _check_one_element(value, name, where)
        return value.reshape(())  # 0-dim: broadcasts against (N,) and (N, N) alike
    return check_positive(value, name, where)


def store_temperature(module: torch.nn.Module, name: str, value, where: str) -> None:
    """Keep τ as ``module.<name>``: an ``nn.Parameter`` is registered, anything else stored as a float.

    A registered parameter is learnable: ``module.parameters()`` yields it (so the optimiser steps it),
    ``.to(device)`` moves it and the state dict saves it. A plain tensor that requires grad is refused:
    no optimiser built from the module's parameters would ever update it.
    """
    if isinstance(value, torch.nn.Parameter):
        check_temperature(value, name, where)
        module.register_parameter(name, value)
        return
    if isinstance(value, torch.Tensor) and value.requires_grad:
        fail(
            name,
            where,
            "a number, or an nn.Parameter to learn it",
            "a plain tensor that requires grad (not registered, so no optimiser would update it)",
            TypeError,
        )
    setattr(module, name, check_positive(value, name, where))


def temperature_repr(value) -> str:
    """τ for ``extra_repr``: ``0.5``, or ``0.5 (learnable)`` for a parameter."""
    if isinstance(value, torch.nn.Parameter):
        return f"{value.detach().reshape(()).item():g} (learnable)"
    return str(value)


def check_choice(value, name: str, where: str, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = tuple(choices)
    if value not in choices:
        fail(name, where, "one of " + ", ".join(repr(c) for c in choices), repr(value))
    return value


def check_embeddings(
    x, name: str, where: str, *, ndim: int = 2, min_rows: int = 1, shape_hint: str = "(batch, dim)"
) -> torch.Tensor:
    """A finite floating-point tensor with ``ndim`` dimensions and at least ``min_rows`` rows.

    Finiteness is a read of the values (a device sync), skipped inside ``values_checked_by_caller()``.
    """
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
        rows = plural(min_rows, "row")
        fail(name, where, f"a tensor with at least {rows} (one per sample)", f"shape {tuple(x.shape)}")
    if x.shape[-1] < 1:
        fail(name, where, "a tensor with at least one feature", f"shape {tuple(x.shape)}")
    if reads_tensor_values() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        fail(
            name,
            where,
            "finite (no NaN or inf)",
            f"{plural(bad, 'non-finite value')}; check the encoder output and learning rate",
        )
    return x


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str, where: str) -> None:
    """Two tensors that pair up row by row."""
    if a.shape != b.shape:
        fail(name_b, where, f"the same shape as '{name_a}' {tuple(a.shape)}", f"shape {tuple(b.shape)}")


def check_labels(labels, n: int, name: str, where: str) -> torch.Tensor:
    """Integer class labels, one per sample: a tensor, array or list of ints (strings refused)."""
    expected = "an integer tensor of class labels (or an array or list of ints)"
    if not isinstance(labels, torch.Tensor):
        try:
            labels = torch.as_tensor(labels)
        except (TypeError, ValueError, RuntimeError):
            hint = "; map names to ints first, e.g. [classes.index(c) for c in labels]"
            fail(name, where, expected + hint, f"{type(labels).__name__} {_preview(labels)}", TypeError)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dtype.is_complex:
        fail(name, where, expected, f"dtype {labels.dtype}", TypeError)
    if labels.dim() != 1 or labels.shape[0] != n:
        fail(
            name,
            where,
            f"a 1-D tensor of {plural(n, 'label')} (one per sample)",
            f"shape {tuple(labels.shape)}",
        )
    return labels


def _preview(values) -> str:
    """The first few items of a sequence, for a message."""
    try:
        items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    except TypeError:
        return repr(values)
    return repr(items[:3])[:-1] + (", ...]" if len(items) > 3 else "]")


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Losses compute in float32 at least, so float16/bfloat16 inputs stay finite (float64 stays float64)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32
