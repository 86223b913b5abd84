"""Checkers of notebook 03: the reference passes, each typical mistake gets its own message."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from edu_contrast import exercises, losses
from edu_contrast.exercises import ExerciseError
from edu_contrast.exercises.alignment_uniformity import check_alignment, check_uniformity


def _pairs_i_lt_j(z):
    n = z.shape[0]
    i, j = torch.triu_indices(n, n, offset=1)
    return z[i], z[j]  # (P, d) each


# ----------------------------------------------------------------------------- alignment


def alignment_reference(z1, z2, alpha=2):
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return (z1 - z2).norm(dim=1).pow(alpha).mean()


def alignment_via_cosine(z1, z2, alpha=2):
    cosine = F.cosine_similarity(z1, z2, dim=1)  # ‖ẑ1 − ẑ2‖² = 2 − 2 cos
    return float((2 - 2 * cosine).clamp_min(0).pow(alpha / 2).mean())


def test_correct_alignments_pass(capsys):
    assert check_alignment(alignment_reference) is True
    assert check_alignment(alignment_via_cosine) is True
    assert check_alignment(lambda z1, z2, alpha=2: losses.alignment(z1, z2, alpha=alpha)) is True
    assert "✓ check_alignment: correct" in capsys.readouterr().out


ALIGNMENT_MISTAKES = [
    (lambda z1, z2, alpha=2: (z1 - z2).norm(dim=1).pow(alpha).mean(), "you did not normalise"),
    (
        lambda z1, z2, alpha=2: (F.normalize(z1, dim=1) - F.normalize(z2, dim=1)).pow(2).sum(1).mean(),
        "you ignored 'alpha'",
    ),
    (
        lambda z1, z2, alpha=2: (
            (F.normalize(z1, dim=1) - F.normalize(z2, dim=1)).pow(2).sum(1).pow(alpha).mean()
        ),
        "you raised the squared distance to the power α",
    ),
    (
        lambda z1, z2, alpha=2: (
            (F.normalize(z1, dim=1) - F.normalize(z2, dim=1)).norm(dim=1).pow(alpha).sum()
        ),
        "you summed over the N positive pairs",
    ),
    (
        lambda z1, z2, alpha=2: F.cosine_similarity(z1, z2).mean(),
        "you returned the mean cosine similarity",
    ),
    (
        lambda z1, z2, alpha=2: torch.cdist(F.normalize(z1, dim=1), F.normalize(z2, dim=1)).pow(alpha).mean(),
        "you compared every z1_i with every z2_j",
    ),
]


@pytest.mark.parametrize(("student", "message"), ALIGNMENT_MISTAKES)
def test_alignment_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=re.escape(message)):
        check_alignment(student)


def test_alignment_unrecognised_mistake_reports_numbers():
    with pytest.raises(ExerciseError, match=r"for N = 8, d = 3, α = 2 your function returned 1\.5.*expected"):
        check_alignment(lambda z1, z2, alpha=2: 1.5)


def test_alignment_returning_per_pair_tensor_is_explained():
    with pytest.raises(ExerciseError, match=r"tensor of shape \(8,\).*reduce it to one number"):
        check_alignment(lambda z1, z2, alpha=2: (F.normalize(z1, dim=1) - F.normalize(z2, dim=1)).norm(dim=1))


def test_alignment_crash_is_reported():
    with pytest.raises(ExerciseError, match="your function raised ZeroDivisionError"):
        check_alignment(lambda z1, z2, alpha=2: 1 / 0)


# ----------------------------------------------------------------------------- uniformity


def uniformity_reference(z, t=2):
    a, b = _pairs_i_lt_j(F.normalize(z, dim=1))
    return torch.log(torch.exp(-t * (a - b).pow(2).sum(dim=1)).mean())


def uniformity_with_pdist(z, t=2):
    return torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).exp().mean().log()  # Wang & Isola's code


def uniformity_over_ordered_pairs(z, t=2):
    u = F.normalize(z, dim=1)
    n = u.shape[0]
    sq = torch.cdist(u, u).pow(2)  # (N, N)
    off = ~torch.eye(n, dtype=torch.bool)
    return float(torch.logsumexp(-t * sq[off], dim=0) - math.log(n * (n - 1)))  # i ≠ j: the same mean


def test_correct_uniformities_pass(capsys):
    for student in (uniformity_reference, uniformity_with_pdist, uniformity_over_ordered_pairs):
        assert check_uniformity(student) is True
    assert "✓ check_uniformity: correct" in capsys.readouterr().out


def _all_pairs(z, t=2):
    u = F.normalize(z, dim=1)
    return torch.cdist(u, u).pow(2).mul(-t).exp().mean().log()


UNIFORMITY_MISTAKES = [
    (lambda z, t=2: torch.pdist(z).pow(2).mul(-t).exp().mean().log(), "you did not normalise"),
    (_all_pairs, "you included the i = j pairs"),
    (lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).pow(2).mul(t).exp().mean().log(), "wrong sign"),
    (
        lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-2).exp().mean().log(),
        "you used t = 2 whatever the 't' argument (t = 0.5 here)",
    ),
    (lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).mul(-t).exp().mean().log(), "not its square"),
    (lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).exp().mean(), "you forgot the log"),
    (
        lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).mean(),
        "the log goes outside the mean",
    ),
    (
        lambda z, t=2: (
            torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).exp().sum().div(z.shape[0] ** 2).log()
        ),
        "divided by N² instead",
    ),
    (
        lambda z, t=2: torch.pdist(F.normalize(z, dim=1)).pow(2).mul(-t).exp().sum().log(),
        "without dividing by their number",
    ),
]


@pytest.mark.parametrize(("student", "message"), UNIFORMITY_MISTAKES)
def test_uniformity_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=re.escape(message)):
        check_uniformity(student)


def test_uniformity_non_finite_result_is_reported():
    with pytest.raises(ExerciseError, match="returned nan"):
        check_uniformity(lambda z, t=2: float("nan"))


def test_reexported_from_exercises():
    assert exercises.check_alignment is check_alignment
    assert exercises.check_uniformity is check_uniformity


# ----------------------------------------------------------------------------- the exercise convention


@pytest.mark.parametrize(
    ("check", "reference", "mistakes"),
    [
        (check_alignment, losses.alignment, ALIGNMENT_MISTAKES),
        (check_uniformity, losses.uniformity, UNIFORMITY_MISTAKES),
    ],
    ids=["alignment", "uniformity"],
)
def test_verify_checker_accepts_the_reference_and_names_every_mistake(check, reference, mistakes):
    exercises.verify_checker(check, reference, mistakes)


def test_hint_and_show_solution_print_the_signature_and_the_reference(capsys):
    exercises.hint("alignment")
    out = capsys.readouterr().out
    assert out.startswith("alignment(z1") and "alpha" in out and "F.normalize" in out
    exercises.hint("uniformity")
    out = capsys.readouterr().out
    assert out.startswith("uniformity(z") and "t: float = 2" in out and "torch.pdist" in out
    exercises.show_solution("uniformity")
    out = capsys.readouterr().out
    assert "edu_contrast.losses.geometry.uniformity" in out and "def uniformity(z" in out
    assert "torch.logsumexp" in out


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert check_alignment(alignment_reference, fallback=True) is alignment_reference
    assert check_uniformity(uniformity_with_pdist, fallback=True) is uniformity_with_pdist
    out = capsys.readouterr().out
    assert "uses your alignment" in out and "uses your uniformity" in out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(z, *, t=2):
        raise NotImplementedError("normalise, pdist, square, −t, exp, mean, log")

    assert check_uniformity(stub, fallback=True) is losses.uniformity
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.losses.geometry.uniformity" in out
    assert check_alignment(ALIGNMENT_MISTAKES[0][0], fallback=True) is losses.alignment
    assert "you did not normalise" in capsys.readouterr().out
