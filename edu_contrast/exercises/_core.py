"""What every checker shares: the error type, reading the student's number, and the comparison that
explains a mismatch."""

from __future__ import annotations

import torch

from edu_contrast._validation import fail


class ExerciseError(AssertionError):
    """The student's implementation differs from the reference; the message says how."""


def call_student(student_fn, *args, name: str, **kwargs):
    """Call the student's function, turning a crash into an ExerciseError that names the exercise."""
    if not callable(student_fn):
        fail("student_fn", name, "a function", type(student_fn).__name__, TypeError)
    try:
        return student_fn(*args, **kwargs)
    except Exception as error:  # the student's bug, reported with context
        raise ExerciseError(f"{name}: your function raised {type(error).__name__}: {error}") from error


def as_number(value, name: str, expected: str, *, tensor_hint: str = "") -> float:
    """The student's result as a float (a one-element tensor or a Python number); otherwise an
    ExerciseError "{name}: return {expected}. Got ..." (``tensor_hint`` follows a wrong-shape tensor)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    got = "None (no return statement?)" if value is None else type(value).__name__
    if isinstance(value, torch.Tensor):
        got = f"a tensor of shape {tuple(value.shape)}{tensor_hint}"
    raise ExerciseError(f"{name}: return {expected}. Got {got}.")


def expect_close(
    got, expected: torch.Tensor, *, what: str, name: str, atol: float = 1e-5, rtol: float = 1e-4
):
    """Raise ExerciseError unless ``got`` is a tensor of ``expected``'s shape and values."""
    if not isinstance(got, torch.Tensor):
        got = torch.as_tensor(got, dtype=expected.dtype)
    if got.shape != expected.shape:
        raise ExerciseError(f"{name}: {what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.")
    got = got.detach().to(expected.dtype)
    if not torch.allclose(got, expected, atol=atol, rtol=rtol):
        diff = (got - expected).abs()
        where = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0]) if diff.dim() else ()
        raise ExerciseError(
            f"{name}: {what} differs from the reference by up to {float(diff.max()):.4g}"
            + (
                f" (at index {where}: got {float(got[where]):.4g}, expected {float(expected[where]):.4g})"
                if where
                else ""
            )
            + "."
        )


def passed(name: str, message: str = "") -> bool:
    print(f"✓ {name}: correct. {message}".rstrip())
    return True


def verify_checker(check, solution, mistakes) -> None:
    """Assert that ``check`` passes ``solution`` and names each mistake: for every ``(wrong_fn, words)``
    in ``mistakes``, ``check(wrong_fn)`` raises ``ExerciseError`` whose message contains ``words``.

    The test every checker needs (``tests/test_exercises_*.py``); raises AssertionError listing each
    mistake the checker let through or explained with other words.
    """
    try:
        accepted = check(solution) is True
    except ExerciseError as error:
        raise AssertionError(f"{check.__name__} does not accept the solution: {error}") from error
    if not accepted:
        raise AssertionError(f"{check.__name__} does not accept the solution (it did not return True)")
    problems = []
    for wrong, words in mistakes:
        try:
            check(wrong)
        except ExerciseError as error:
            if words.lower() not in str(error).lower():
                problems.append(f"expected {words!r} in the message, got: {error}")
            continue
        problems.append(f"accepted a function that should fail with {words!r}")
    if problems:
        raise AssertionError(f"{check.__name__}:\n" + "\n".join(problems))
