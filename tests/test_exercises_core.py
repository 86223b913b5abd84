"""The exercise mechanism: registry, verdict and fallback, hint, solution source, verify_checker."""

import ast
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import EXERCISES, exercise, verdict

SCALE = 2.0


@torch.no_grad()  # a decorated reference: its imports are read from this module, not torch's
def doubled_norm(x):
    """2‖x‖ (a module constant, a module alias and a plain module, for the solution's imports)."""
    return SCALE * float(np.linalg.norm(x)) + math.floor(0.5)


@pytest.fixture
def check_twice_norm():
    @exercise("twice_norm", reference=doubled_norm, hint="multiply the norm of x by 2")
    def check(student_fn):
        got = call_student(student_fn, np.array([3.0, 4.0]), name="check_twice_norm")
        if got != 10.0:
            raise ExerciseError(f"check_twice_norm: expected 10 = 2·‖(3, 4)‖, got {got}")
        return passed("check_twice_norm")

    yield check
    del EXERCISES["twice_norm"]


def test_the_checker_keeps_its_plain_behaviour(check_twice_norm):
    assert check_twice_norm(lambda x: 2 * float(np.linalg.norm(x))) is True
    with pytest.raises(ExerciseError, match="expected 10"):
        check_twice_norm(lambda x: float(np.linalg.norm(x)))


def test_fallback_picks_the_students_function_or_the_reference(check_twice_norm, capsys):
    def right(x):
        return 2 * float(np.linalg.norm(x))

    def stub(x):
        raise NotImplementedError("norm times two")

    assert check_twice_norm(right, fallback=True) is right
    assert "uses your twice_norm" in capsys.readouterr().out
    assert check_twice_norm(stub, fallback=True) is doubled_norm
    out = capsys.readouterr().out
    assert "not written yet" in out and "test_exercises_core.doubled_norm" in out
    assert check_twice_norm(lambda x: 3.0, fallback=True) is doubled_norm
    assert "expected 10" in capsys.readouterr().out


def test_verdict_of_something_that_is_not_a_function(check_twice_norm):
    result = verdict(EXERCISES["twice_norm"], None)
    assert not result.passed and "not a function" in result.message


def test_hint_and_show_solution_print_on_demand(check_twice_norm, capsys):
    exercises.hint("twice_norm")
    out = capsys.readouterr().out
    assert "twice_norm(x)" in out and "multiply the norm" in out and "show_solution" in out
    exercises.show_solution("twice_norm")
    assert "def twice_norm(x):" in capsys.readouterr().out


def test_the_solution_is_the_references_source_with_its_imports(check_twice_norm):
    source = exercises.solution_source("twice_norm")
    assert "import math\nimport numpy as np\nimport torch\nfrom test_exercises_core import SCALE" in source
    assert "def twice_norm(x):" in source and "def doubled_norm" not in source
    namespace = {}
    exec(source, namespace)  # noqa: S102
    assert check_twice_norm(namespace["twice_norm"]) is True


def test_an_unknown_exercise_is_named():
    with pytest.raises(KeyError, match="'name' parameter of exercises.hint"):
        exercises.hint("no_such_exercise")


def test_verify_checker_fails_on_a_lenient_or_vague_checker(check_twice_norm):
    right = lambda x: 2 * float(np.linalg.norm(x))  # noqa: E731
    exercises.verify_checker(check_twice_norm, right, [(lambda x: 1.0, "expected 10")])
    with pytest.raises(AssertionError, match="accepted a function"):
        exercises.verify_checker(check_twice_norm, right, [(right, "anything")])
    with pytest.raises(AssertionError, match="expected 'off by one'"):
        exercises.verify_checker(check_twice_norm, right, [(lambda x: 1.0, "off by one")])
    with pytest.raises(AssertionError, match="does not accept the solution"):
        exercises.verify_checker(check_twice_norm, lambda x: 1.0, [])


# Every notebook's stubs say what to compute and what is checked, the how left to the hint.
WHAT_NOT_HOW = tuple(f"{n:02d}" for n in range(1, 17))  # every notebook
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _stub_messages():
    for path in (p for p in NOTEBOOKS if p.name[:2] in WHAT_NOT_HOW):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for index, name in exercises.exercise_cells(notebook):
            tree = ast.parse("".join(notebook["cells"][index]["source"]))
            (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
            yield path.name, name, function.body[-1].exc.args[0].value


def test_stubs_say_what_is_checked_and_leave_the_how_to_the_hint():
    messages = list(_stub_messages())
    assert len(messages) >= len(WHAT_NOT_HOW), "every listed notebook has a stub"
    for notebook, name, message in messages:
        assert message.startswith("checked "), f"{notebook} {name}: the stub says what is checked"
        assert message.endswith(f"How: exercises.hint({name!r})"), f"{notebook} {name}: points at the hint"
        code = set(re.findall(r"[\w.]*\w\(|\w+\[[^\]]+\]", EXERCISES[name].hint))  # calls, indexing
        assert code, f"{name}: the hint holds the how (the code to write)"
        leaked = sorted(fragment for fragment in code if fragment in message)
        assert not leaked, f"{notebook} {name}: the stub gives the recipe away: {leaked}"


# ----------------------------------------------------------------------------- design exercises (issue 25 §3)


def test_call_design_gives_a_copy_and_wants_the_runs_keys():
    from edu_contrast.exercises._core import call_design, changed_factors, describe_changes

    run = {"loss": "SupCon", "epochs": 10}

    def edits_in_place(method):
        method["epochs"] = 1
        return method

    design = call_design(edits_in_place, run, name="design")
    assert run == {"loss": "SupCon", "epochs": 10} and design["epochs"] == 1
    assert changed_factors(run, design) == {"epochs": (10, 1)}
    assert describe_changes(changed_factors(run, {"loss": "SimCLR", "epochs": 1})) == (
        "loss 'SupCon' → 'SimCLR', epochs 10 → 1"
    )
    for wrong, words in [
        (lambda m: None, "no return statement"),
        (lambda m: ("SimCLR", 10), "return a dict of settings with the keys ['loss', 'epochs']. Got tuple"),
        (lambda m: {"loss": "SimCLR"}, "missing ['epochs']"),
        (lambda m: {**m, "lr": 0.1}, "unknown ['lr']"),
        (lambda m: {**m, "epochs": torch.tensor(3)}, "'epochs' is a Tensor"),
        (lambda m: 1 / 0, "raised ZeroDivisionError"),
    ]:
        with pytest.raises(ExerciseError, match=re.escape(words)):
            call_design(wrong, run, name="design")


@pytest.mark.parametrize(
    "value, integer, words",
    [(True, False, "a finite number ≥ 0"), (float("inf"), False, "finite"), (-1, False, "≥ 0"),
     (2.5, True, "an integer"), ("5", False, "not '5'")],
)  # fmt: skip
def test_setting_is_number_refuses_what_is_not_a_number(value, integer, words):
    from edu_contrast.exercises._core import setting_is_number

    setting_is_number({"epochs": 3}, "epochs", name="design", integer=True)  # accepted
    with pytest.raises(ExerciseError, match=re.escape(words)):
        setting_is_number({"x": value}, "x", name="design", integer=integer)
