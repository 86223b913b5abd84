"""Checker of notebook 04: the reference passes, each typical mistake gets its own message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from edu_contrast import diagnostics, exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.exercises.collapse import check_effective_rank


def effective_rank_reference(z):
    sigma = torch.linalg.svdvals(z)
    p = sigma / sigma.sum()
    p = p[p > 0]
    return torch.exp(-(p * p.log()).sum())


def effective_rank_numpy(z):
    import numpy as np

    sigma = np.linalg.svd(z.numpy(), compute_uv=False)
    p = sigma / sigma.sum()
    return float(np.exp(-np.sum(p * np.log(p + 1e-300))))


def test_correct_implementations_pass(capsys):
    assert check_effective_rank(effective_rank_reference) is True
    assert check_effective_rank(effective_rank_numpy) is True
    assert check_effective_rank(diagnostics.effective_rank) is True
    assert "✓ check_effective_rank: correct" in capsys.readouterr().out


def _from_p(make_p):
    def student(z):
        p = make_p(z)
        p = p[p > 0]
        return torch.exp(-(p * p.log()).sum())

    return student


MISTAKES = [
    (
        _from_p(lambda z: torch.linalg.svdvals(z).pow(2) / torch.linalg.svdvals(z).pow(2).sum()),
        "you used the squared singular values",
    ),
    (_from_p(lambda z: torch.linalg.svdvals(z)), "you forgot to normalise p"),
    (
        _from_p(lambda z: (s := torch.linalg.svdvals(z - z.mean(0))) / s.sum()),
        "you centred the embeddings",
    ),
    (
        _from_p(lambda z: (s := torch.linalg.svdvals(F.normalize(z, dim=1))) / s.sum()),
        "you normalised the rows",
    ),
    (
        lambda z: -(p := (s := torch.linalg.svdvals(z)) / s.sum()).mul(p.log()).sum(),
        "you returned the entropy H",
    ),
    (
        lambda z: torch.exp(-(p := (s := torch.linalg.svdvals(z)) / s.sum()).mul(p.log2()).sum()),
        "you mixed logarithm bases",
    ),
    (lambda z: float(torch.linalg.matrix_rank(z)), "you returned the ordinary rank"),
]


@pytest.mark.parametrize(("student", "message"), MISTAKES)
def test_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=message):
        check_effective_rank(student)


def test_closed_form_failure_explains_equal_singular_values():
    # The ordinary rank is right for the closed forms (1 and 3) and wrong afterwards.
    with pytest.raises(ExerciseError, match="you returned the ordinary rank"):
        check_effective_rank(lambda z: float(torch.linalg.matrix_rank(z)))
    with pytest.raises(
        ExerciseError, match=r"3 equal non-zero singular value\(s\).*exactly 3; yours is 1\.0"
    ):
        check_effective_rank(lambda z: 1.0)


def test_wrong_return_type_is_explained():
    with pytest.raises(ExerciseError, match="return one number"):
        check_effective_rank(lambda z: torch.linalg.svdvals(z))
    with pytest.raises(ExerciseError, match="no return statement"):
        check_effective_rank(lambda z: None)


def test_reexported_from_exercises():
    assert exercises.check_effective_rank is check_effective_rank


# ----------------------------------------------------------------------------- the exercise convention


def test_verify_checker_accepts_the_reference_and_names_every_mistake():
    exercises.verify_checker(check_effective_rank, diagnostics.effective_rank, MISTAKES)


def test_hint_and_show_solution_print_the_signature_and_the_reference(capsys):
    exercises.hint("effective_rank")
    out = capsys.readouterr().out
    assert out.startswith("effective_rank(z") and "svdvals" in out and "exp(H)" in out
    exercises.show_solution("effective_rank")
    out = capsys.readouterr().out
    assert "edu_contrast.diagnostics.effective_rank" in out and "def effective_rank(z" in out
    assert "torch.special.entr" in out and "import math" in out


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert check_effective_rank(effective_rank_reference, fallback=True) is effective_rank_reference
    assert "uses your effective_rank" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(z):
        raise NotImplementedError("svdvals, p = σ / Σσ, exp of the entropy")

    assert check_effective_rank(stub, fallback=True) is diagnostics.effective_rank
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.diagnostics.effective_rank" in out
    assert check_effective_rank(MISTAKES[0][0], fallback=True) is diagnostics.effective_rank
    assert "squared singular values" in capsys.readouterr().out
