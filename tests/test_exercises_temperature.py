"""check_negative_weights passes stable implementations and names each typical mistake."""

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.lessons import temperature as lesson


def reference(positive, negatives, tau):
    logits = torch.cat([positive[:, None], negatives], dim=1) / tau  # (N, 1 + M)
    return torch.softmax(logits, dim=1)[:, 1:]


def log_space(positive, negatives, tau):
    logits = torch.cat([positive[:, None], negatives], dim=1) / tau
    return (negatives / tau - torch.logsumexp(logits, dim=1, keepdim=True)).exp()


def multiplied(positive, negatives, tau):
    return torch.softmax(torch.cat([positive[:, None], negatives], dim=1) * tau, dim=1)[:, 1:]


def with_positive(positive, negatives, tau):
    return torch.softmax(torch.cat([positive[:, None], negatives], dim=1) / tau, dim=1)


def naive(positive, negatives, tau):
    e = torch.exp(torch.cat([positive[:, None], negatives], dim=1) / tau)  # overflows at τ = 0.01 in float32
    return (e / e.sum(dim=1, keepdim=True))[:, 1:]


def test_stable_implementations_pass(capsys):
    assert exercises.check_negative_weights(reference) is True
    assert exercises.check_negative_weights(log_space) is True
    assert "correct" in capsys.readouterr().out


MISTAKES = [
    (
        naive,
        r"at τ = 0.01 in torch.float32 your weights come out as NaN, inf or 0 because exp\(s/τ\)",
    ),
    (lambda p, n, t: reference(p, n, 1.0), r"forgot the temperature"),
    (
        lambda p, n, t: torch.softmax(torch.cat([p[:, None], n], 1) * t, 1)[:, 1:],
        r"multiplied by the temperature",
    ),
    (lambda p, n, t: torch.softmax(n / t, dim=1), r"left the positive out of the denominator"),
    (lambda p, n, t: torch.softmax(n / t, dim=0), r"normalised over the wrong axis"),
    (lambda p, n, t: reference(p, n, t) / t, r"returned the gradient ∂ℓ/∂s⁻ = p / τ"),
    (lambda p, n, t: torch.exp(n / t) / torch.exp(p / t)[:, None], r"divided by exp\(s⁺/τ\) only"),
    (
        lambda p, n, t: torch.softmax(torch.cat([p[:, None], n], 1) / t, 1),
        r"includes the positive's column",
    ),
    (lambda p, n, t: reference(p, n, t)[:, :-1], r"one weight per negative, shape \(N, M\) = \(4, 6\)"),
    (lambda p, n, t: None, r"Got None \(no return statement\?\)"),
    (lambda p, n, t: reference(p, n, t) * 1.01, r"the weights \(N = 4, M = 6, τ = 0.5\) differs"),
    (lambda p, n, t: reference(p, n, t) * float("nan"), r"contain NaN or inf"),
]


@pytest.mark.parametrize(("fn", "message"), MISTAKES)
def test_typical_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_negative_weights(fn)


# ----------------------------------------------------------------------------- the exercise convention

NAMED = [  # (wrong function, words its message must contain): the mistakes a student makes
    (naive, "exp(s/τ) overflows"),
    (lambda p, n, t: reference(p, n, 1.0), "forgot the temperature"),
    (multiplied, "multiplied by the temperature"),
    (lambda p, n, t: torch.softmax(n / t, dim=1), "left the positive out of the denominator"),
    (lambda p, n, t: torch.softmax(n / t, dim=0), "wrong axis"),
    (lambda p, n, t: reference(p, n, t) / t, "returned the gradient"),
    (lambda p, n, t: torch.exp(n / t) / torch.exp(p / t)[:, None], "divided by exp(s⁺/τ) only"),
    (with_positive, "includes the positive's column"),
]


def test_verify_checker_accepts_the_reference_and_names_every_mistake():
    exercises.verify_checker(exercises.check_negative_weights, lesson.negative_weights, NAMED)


def test_hint_and_show_solution_print_the_signature_and_the_reference(capsys):
    exercises.hint("negative_weights")
    out = capsys.readouterr().out
    assert out.startswith("negative_weights(positive") and "temperature" in out and "[:, 1:]" in out
    exercises.show_solution("negative_weights")
    out = capsys.readouterr().out
    assert "edu_contrast.lessons.temperature.negative_weights" in out
    assert "def negative_weights(positive" in out and "torch.softmax" in out


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert exercises.check_negative_weights(log_space, fallback=True) is log_space
    assert "uses your negative_weights" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(positive, negatives, temperature):
        raise NotImplementedError("softmax over [s⁺, s⁻] / τ, drop column 0")

    assert exercises.check_negative_weights(stub, fallback=True) is lesson.negative_weights
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.lessons.temperature.negative_weights" in out
    assert exercises.check_negative_weights(naive, fallback=True) is lesson.negative_weights
    assert "overflows" in capsys.readouterr().out
