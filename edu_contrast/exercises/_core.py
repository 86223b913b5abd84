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


def call_design(student_fn, given: dict, *, name: str) -> dict:
    """The design a student's function returns for the run ``given`` (a dict of settings): a dict with
    exactly ``given``'s keys, or an ExerciseError naming the keys missing or unknown.

    The student's function gets a copy, so a design that edits its argument in place is still compared
    with the run it was given.
    """
    design = call_student(student_fn, dict(given), name=name)
    if not isinstance(design, dict):
        got = "None (no return statement?)" if design is None else type(design).__name__
        raise ExerciseError(f"{name}: return a dict of settings with the keys {list(given)}. Got {got}.")
    missing, unknown = [k for k in given if k not in design], [k for k in design if k not in given]
    if missing or unknown:
        raise ExerciseError(
            f"{name}: a design has the keys of the run it was given, {list(given)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {unknown}" if unknown else "")
            + "."
        )
    plain = (bool, int, float, str)
    odd = [k for k, v in design.items() if not isinstance(v, plain)]
    if odd:
        raise ExerciseError(
            f"{name}: settings are plain numbers, strings or booleans; {odd[0]!r} is a "
            f"{type(design[odd[0]]).__name__}."
        )
    return design


def check_design(student_fn, runs, find_problem, *, name: str, run_label: str, success: str, changes_of=None):
    """Call ``student_fn`` on each run of ``runs`` and refuse the first design ``find_problem(run, design)``
    finds a problem with (one line naming the run; with ``changes_of``, e.g. "your baseline", also what the
    design changes); ``passed(name, success)`` when every design holds."""
    for run in runs:
        design = call_design(student_fn, run, name=name)
        problem = find_problem(run, design)
        if problem:
            changed = f"; {changes_of} changes {describe_changes(changed_factors(run, design)) or 'nothing'}"
            raise ExerciseError(f"{name}: {problem}. ({run_label} {run}{changed if changes_of else ''}.)")
    return passed(name, success)


def changed_factors(reference: dict, design: dict) -> dict[str, tuple]:
    """``{key: (reference's value, design's value)}`` for every setting the design changes."""
    return {k: (reference[k], design[k]) for k in reference if design[k] != reference[k]}


def describe_changes(changes: dict[str, tuple]) -> str:
    """``"width 16 → 8, seed 0 → 1"``: the changed settings, as a student reads them."""
    return ", ".join(f"{k} {before!r} → {after!r}" for k, (before, after) in changes.items())


def setting_is_number(
    design: dict, key: str, *, name: str, integer: bool = False, minimum: float = 0
) -> None:
    """Raise ExerciseError unless ``design[key]`` is a number (an int if ``integer``) ≥ ``minimum``."""
    value = design[key]
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not minimum <= value < float("inf"):
        kind = "an integer" if integer else "a finite number"
        raise ExerciseError(f"{name}: {key} must be {kind} ≥ {minimum:g}, not {value!r}.")
