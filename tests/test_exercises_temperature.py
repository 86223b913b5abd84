"""check_negative_weights passes stable implementations and names each typical mistake."""

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError


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


@pytest.mark.parametrize(
    ("fn", "message"),
    [
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
    ],
)
def test_typical_mistakes_are_named(fn, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_negative_weights(fn)
