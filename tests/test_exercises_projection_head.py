"""Notebook 11's checker passes the reference and names each usual mistake of the covariance spectrum."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError, verify_checker
from edu_contrast.exercises.projection_head import check_covariance_spectrum
from edu_contrast.lessons.projection_head import covariance_spectrum


def solution(z):
    centred = z - z.mean(dim=0)  # (n, d)
    return torch.linalg.svdvals(centred).pow(2) / (z.shape[0] - 1)


def via_torch_cov(z):
    return torch.linalg.eigvalsh(torch.cov(z.T)).flip(0)[: min(z.shape)].clamp(min=0)


def not_centred(z):
    return torch.linalg.svdvals(z).pow(2) / (z.shape[0] - 1)


def singular_values(z):
    return torch.linalg.svdvals(z - z.mean(dim=0))


def not_divided(z):
    return torch.linalg.svdvals(z - z.mean(dim=0)).pow(2)


def divided_by_n(z):
    return torch.linalg.svdvals(z - z.mean(dim=0)).pow(2) / z.shape[0]


def ascending(z):
    return solution(z).flip(0)


def returns_nothing(z):
    solution(z)


def one_value_too_many(z):
    return torch.cat([solution(z), torch.zeros(1, dtype=z.dtype)])


def test_checker_passes_the_solutions_and_names_each_mistake():
    mistakes = [
        (not_centred, "not centred"),
        (singular_values, "singular values"),
        (not_divided, "divide σ_k² by n − 1"),
        (divided_by_n, "not by n"),
        (ascending, "largest first"),
        (returns_nothing, "no return statement"),
        (one_value_too_many, "min(n, d)"),
    ]
    verify_checker(check_covariance_spectrum, solution, mistakes)
    assert check_covariance_spectrum(via_torch_cov) is True  # another correct route: torch.cov's eigenvalues


def test_checker_reports_a_crash_and_a_wrong_value():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        check_covariance_spectrum(lambda z: 1 / 0)
    with pytest.raises(ExerciseError, match="expected"):
        check_covariance_spectrum(lambda z: solution(z) * 1.5)


def test_fallback_gives_the_reference_until_the_student_function_passes(capsys):
    assert check_covariance_spectrum(not_centred, fallback=True) is covariance_spectrum
    assert check_covariance_spectrum(solution, fallback=True) is solution
    assert "not centred" in capsys.readouterr().out


def test_reference_matches_the_covariance_eigenvalues():
    z = torch.randn(30, 5, dtype=torch.float64) + 2
    assert torch.allclose(covariance_spectrum(z), via_torch_cov(z), atol=1e-10)


def test_the_hint_names_the_steps(capsys):
    # The stub, solution and fallback checks of every exercise: tests/test_solutions.py.
    exercises.hint("covariance_spectrum")
    out = capsys.readouterr().out
    assert out.startswith("covariance_spectrum(z") and "svdvals" in out and "n − 1" in out
