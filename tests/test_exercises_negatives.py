"""Notebook 13's checker passes the reference and names each usual slip of the debiased negative term N_g."""

from __future__ import annotations

import math

import pytest
import torch

from edu_contrast import exercises, losses
from edu_contrast.exercises import ExerciseError, verify_checker
from edu_contrast.exercises.negatives import check_debiased_negative_term
from edu_contrast.lessons.negatives import debiased_negative_term


def solution(s_neg, s_pos, tau_plus, temperature):
    m = s_neg.shape[1]
    total = torch.exp(s_neg / temperature).sum(dim=1)  # (A,)
    estimate = (total - tau_plus * m * torch.exp(s_pos / temperature)) / (1 - tau_plus)
    return torch.maximum(estimate, torch.full_like(estimate, m * math.exp(-1 / temperature)))


def _parts(s_neg, s_pos, tau_plus, t, m=None):
    m = s_neg.shape[1] if m is None else m
    return torch.exp(s_neg / t).sum(dim=1), tau_plus * m * torch.exp(s_pos / t), m * math.exp(-1 / t)


def no_clamp(s_neg, s_pos, tau_plus, t):
    raw, pos, _ = _parts(s_neg, s_pos, tau_plus, t)
    return (raw - pos) / (1 - tau_plus)


def clamp_at_zero(s_neg, s_pos, tau_plus, t):
    return no_clamp(s_neg, s_pos, tau_plus, t).clamp(min=0)


def no_division(s_neg, s_pos, tau_plus, t):
    raw, pos, floor = _parts(s_neg, s_pos, tau_plus, t)
    return (raw - pos).clamp(min=floor)


def m_plus_one(s_neg, s_pos, tau_plus, t):
    raw, pos, floor = _parts(s_neg, s_pos, tau_plus, t, m=s_neg.shape[1] + 1)
    return ((raw - pos) / (1 - tau_plus)).clamp(min=floor)


def m_minus_one(s_neg, s_pos, tau_plus, t):
    raw, pos, floor = _parts(s_neg, s_pos, tau_plus, t, m=s_neg.shape[1] - 1)
    return ((raw - pos) / (1 - tau_plus)).clamp(min=floor)


def no_m(s_neg, s_pos, tau_plus, t):
    raw, _, floor = _parts(s_neg, s_pos, tau_plus, t)
    return ((raw - tau_plus * torch.exp(s_pos / t)) / (1 - tau_plus)).clamp(min=floor)


def no_temperature(s_neg, s_pos, tau_plus, t):
    return solution(s_neg, s_pos, tau_plus, 1.0)


def summed_over_anchors(s_neg, s_pos, tau_plus, t):
    return solution(s_neg, s_pos, tau_plus, t).sum()


def returns_nothing(s_neg, s_pos, tau_plus, t):
    solution(s_neg, s_pos, tau_plus, t)


def test_checker_passes_the_solution_and_names_each_slip():
    mistakes = [
        (no_clamp, "no clamp"),
        (clamp_at_zero, "not at 0"),
        (no_division, "1 − τ⁺"),
        (m_plus_one, "M off by one"),
        (m_minus_one, "M off by one"),
        (no_m, "M times τ⁺"),
        (no_temperature, "temperature"),
        (summed_over_anchors, "one N_g per anchor"),
        (returns_nothing, "no return statement"),
    ]
    verify_checker(check_debiased_negative_term, solution, mistakes)


def test_checker_reports_a_crash_and_a_wrong_value():
    with pytest.raises(ExerciseError, match="raised ZeroDivisionError"):
        check_debiased_negative_term(lambda *args: 1 / 0)
    with pytest.raises(ExerciseError, match="expected"):
        check_debiased_negative_term(lambda *args: solution(*args) * 1.5)


def test_fallback_gives_the_reference_until_the_student_function_passes(capsys):
    assert check_debiased_negative_term(no_clamp, fallback=True) is debiased_negative_term
    assert check_debiased_negative_term(solution, fallback=True) is solution
    assert "no clamp" in capsys.readouterr().out


def test_the_reference_gives_the_package_loss():
    """mean_i −log(e^{s⁺/τ} / (e^{s⁺/τ} + N_g)) over NT-Xent's 2N anchors is losses.debiased_nt_xent."""
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 4, dtype=torch.float64)
    z = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)  # (2N, d)
    s = z @ z.T  # (2N, 2N)
    n2 = len(z)
    partner = torch.arange(n2).roll(n2 // 2)
    keep = ~torch.eye(n2, dtype=torch.bool)
    keep[torch.arange(n2), partner] = False
    s_neg, s_pos = s[keep].reshape(n2, n2 - 2), s[torch.arange(n2), partner]  # (2N, M), (2N,)
    for tau_plus in (0.0, 0.1, 0.5):
        ng = debiased_negative_term(s_neg, s_pos, tau_plus, 0.5)
        by_hand = -torch.log(torch.exp(s_pos / 0.5) / (torch.exp(s_pos / 0.5) + ng)).mean()
        package = losses.debiased_nt_xent(z1, z2, temperature=0.5, tau_plus=tau_plus)
        assert torch.isclose(by_hand, package, rtol=1e-10), tau_plus


def test_the_hint_names_the_steps(capsys):
    exercises.hint("debiased_negative_term")
    out = capsys.readouterr().out
    assert out.startswith("debiased_negative_term(s_neg") and "clamp" in out and "1 − τ⁺" in out


# ----------------------------------------------------------------------------- designing the ablation


def ablation(method):
    return {**method, "beta": 0.0}


def changed(**changes):
    return lambda method: {**method, **changes}


ABLATION_MISTAKES = [
    (lambda method: dict(method), "changes no setting"),
    (changed(beta=0.0, tau_plus=0.0), "changes 2 settings (tau_plus"),  # SimCLR: two factors at once
    (changed(beta=0.0, epochs=1), "changes 2 settings"),
    (changed(tau_plus=0.0), "not the hardness weighting"),
    (changed(width=4), "changes width, not beta"),
    (changed(beta=0.5), "still weights the hard negatives"),
    (changed(beta="off"), "beta must be"),
    (changed(epochs=2.5), "epochs must be an integer"),
    (lambda method: dict(tau_plus=0.1, beta=0.0, temperature=0.5, epochs=8, width=8, batch=64), "changes"),
    (lambda method: {**method, "beta": 0.0, "lr": 1e-3}, "unknown ['lr']"),
    (lambda method: [method], "return a dict"),
]


def test_ablate_hardness_accepts_the_reference_and_refuses_each_wrong_design():
    from edu_contrast.exercises.negatives import check_ablate_hardness
    from edu_contrast.lessons.negatives import hardness_ablation

    verify_checker(check_ablate_hardness, ablation, ABLATION_MISTAKES)
    verify_checker(check_ablate_hardness, hardness_ablation, [])


def test_the_ablated_run_is_one_the_notebook_trains():
    """The reference ablation of the notebook's hard-negative run is the debiased run of lessons.METHODS."""
    from edu_contrast.exercises.negatives import HARD_RUNS
    from edu_contrast.lessons import negatives as lesson

    for mode in ("quick", "lab"):
        hard = lesson.run_settings("hard (β = 1, τ⁺ = 0.1)", mode)
        assert lesson.hardness_ablation(hard) == lesson.run_settings("debiased (τ⁺ = 0.1)", mode)
    assert lesson.run_settings("hard (β = 1, τ⁺ = 0.1)", "quick") == HARD_RUNS[0]
    with pytest.raises(ValueError, match="'name' parameter of run_settings"):
        lesson.run_settings("hard", "quick")
