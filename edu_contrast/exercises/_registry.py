"""Exercises as exercises: the registry that ties each exercise to its checker, hint and reference.

A notebook's stub cell asks the student for a function (``quantize_uint8``); the package holds the
reference with the same signature (``lessons.serving.quantize_uint8``). A checker registered with
``@exercise(name, reference=..., hint=...)`` then also answers ``fallback=True``:

    quantize_uint8 = exercises.check_quantize_uint8(quantize_uint8, fallback=True)

prints the verdict and returns the function the rest of the notebook uses — the student's once it
passes, the reference until then — so a notebook with untouched stubs still runs top to bottom.
``hint(name)`` and ``show_solution(name)`` print help on demand; the solution is the reference's own
source (``inspect``), with the imports it needs, so there is no second copy to keep in step.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from edu_contrast._validation import fail
from edu_contrast.exercises._core import ExerciseError

__all__ = ["Exercise", "EXERCISES", "Verdict", "exercise", "verdict", "hint", "show_solution"]


@dataclass(frozen=True)
class Exercise:
    """The function ``name`` a stub cell asks for, its ``checker`` (raises ``ExerciseError``), the
    package's ``reference`` (same signature: the solution and the fallback) and a ``hint``."""

    name: str
    checker: Callable
    reference: Callable
    hint: str


@dataclass(frozen=True)
class Verdict:
    """What a checker said about one function: ``passed`` and the checker's ``message``."""

    exercise: str
    passed: bool
    message: str


EXERCISES: dict[str, Exercise] = {}


def exercise(name: str, *, reference: Callable, hint: str):
    """Register the decorated checker as the one of exercise ``name`` and give it ``fallback=``.

    ``check(fn)`` behaves as before (True, or ``ExerciseError``); ``check(fn, fallback=True)`` never
    raises: it prints the verdict and returns ``fn`` if it passed, else ``reference`` (``choose``).
    """

    def register(checker: Callable) -> Callable:
        entry = Exercise(name, checker, reference, hint)
        EXERCISES[name] = entry

        @functools.wraps(checker)
        def check(student_fn, *, fallback: bool = False):
            return choose(entry, student_fn) if fallback else checker(student_fn)

        return check

    return register


def lookup(name: str, where: str) -> Exercise:
    if name not in EXERCISES:
        fail("name", where, "one of " + ", ".join(map(repr, sorted(EXERCISES))), repr(name), KeyError)
    return EXERCISES[name]


def verdict(entry: Exercise, student_fn) -> Verdict:
    """Run ``entry.checker`` on ``student_fn``; a stub (``NotImplementedError``) is "not written yet"."""
    if not callable(student_fn):
        got = "None" if student_fn is None else type(student_fn).__name__
        return Verdict(entry.name, False, f"{entry.name} is not a function (got {got}).")
    try:
        entry.checker(student_fn)
    except ExerciseError as error:
        if isinstance(error.__cause__, NotImplementedError):
            return Verdict(
                entry.name, False, f"{entry.name}: not written yet (the stub raises NotImplementedError)."
            )
        return Verdict(entry.name, False, str(error))
    return Verdict(entry.name, True, "correct")


def reference_name(entry: Exercise) -> str:
    return f"{entry.reference.__module__}.{entry.reference.__qualname__}"


def choose(entry: Exercise, student_fn) -> Callable:
    """``student_fn`` when its checker passes, else the package's reference; one line says which."""
    result = verdict(entry, student_fn)
    if result.passed:
        print(f"→ the rest of this notebook uses your {entry.name}.")
        return student_fn
    print(
        f"✗ {result.message}\n→ the rest of this notebook uses the package's {reference_name(entry)} "
        f"(help: exercises.hint({entry.name!r}))."
    )
    return entry.reference


def hint(name: str) -> None:
    """Print the hint of exercise ``name``, with the signature to write."""
    entry = lookup(name, "exercises.hint")
    signature = str(inspect.signature(entry.reference)).replace("'", "")  # annotations as written
    print(f"{name}{signature}\n{entry.hint}\nStill stuck? exercises.show_solution({name!r})")


def _imports(function: Callable) -> list[str]:
    """The import lines ``function``'s source needs: each global name it reads, from where it lives."""
    function = inspect.unwrap(function)  # a decorated reference (@torch.no_grad()): the module's globals
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    lines = []
    for name in sorted(read & function.__globals__.keys()):
        value = function.__globals__[name]
        if inspect.ismodule(value):
            module = value.__name__
            lines.append(f"import {module}" + ("" if module == name else f" as {name}"))
        elif getattr(value, "__name__", None) == name and getattr(value, "__module__", None):
            lines.append(f"from {value.__module__} import {name}")
        else:  # a constant of the reference's module
            lines.append(f"from {function.__module__} import {name}")
    return sorted(lines, key=lambda line: (line.startswith("from"), line))


def solution_source(name: str) -> str:
    """The solution of exercise ``name``: the reference's source, renamed to ``name``, with its imports."""
    entry = lookup(name, "exercises.solution_source")
    source = textwrap.dedent(inspect.getsource(entry.reference))
    source = source.replace(f"def {entry.reference.__name__}(", f"def {name}(", 1)
    return "\n".join(_imports(entry.reference)) + "\n\n\n" + source.rstrip() + "\n"


def show_solution(name: str) -> None:
    """Print the solution of exercise ``name`` (the package's reference, as ``make solutions`` writes it)."""
    lookup(name, "exercises.show_solution")
    print(f"# The package's {reference_name(EXERCISES[name])}:\n{solution_source(name)}")
