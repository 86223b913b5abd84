"""Notebook 15's checker passes the reference and names each usual mistake of the symmetric CLIP loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast import exercises
from edu_contrast.exercises import verify_checker
from edu_contrast.exercises.clip import check_symmetric_clip_loss
from edu_contrast.lessons.clip import symmetric_clip_loss


def _logits(image, text, scale):
    return scale * F.normalize(image, dim=1) @ F.normalize(text, dim=1).T  # (N, N)


def _ce(logits):
    return F.cross_entropy(logits, torch.arange(len(logits)))


def solution(image, text, logit_scale):
    logits = _logits(image, text, logit_scale)
    return (_ce(logits) + _ce(logits.T)) / 2


def with_log_softmax(image, text, logit_scale):  # another correct way: the diagonal of log-softmaxes
    logits = _logits(image, text, logit_scale)
    return -(logits.log_softmax(1).diagonal().mean() + logits.log_softmax(0).diagonal().mean()) / 2


def rows_only(image, text, logit_scale):
    return _ce(_logits(image, text, logit_scale))


def columns_only(image, text, logit_scale):
    return _ce(_logits(image, text, logit_scale).T)


def not_normalised(image, text, logit_scale):
    logits = logit_scale * image @ text.T
    return (_ce(logits) + _ce(logits.T)) / 2


def divided(image, text, logit_scale):
    return solution(image, text, 1 / logit_scale)


def twice(image, text, logit_scale):
    return solution(image, text, logit_scale**2)


def logged(image, text, logit_scale):
    return solution(image, text, math.log(logit_scale))


def exponentiated(image, text, logit_scale):
    return solution(image, text, math.exp(logit_scale))


def summed(image, text, logit_scale):
    logits = _logits(image, text, logit_scale)
    return _ce(logits) + _ce(logits.T)


def per_pair(image, text, logit_scale):  # forgot the mean: a vector of losses
    logits = _logits(image, text, logit_scale)
    return F.cross_entropy(logits, torch.arange(len(logits)), reduction="none")


def test_checker_passes_the_solutions_and_names_each_mistake():
    mistakes = [
        (rows_only, "only image → text"),
        (columns_only, "only text → image"),
        (not_normalised, "normalise the rows"),
        (divided, "do not divide"),
        (twice, "applied twice"),
        (logged, "not log t"),
        (exponentiated, "do not take its exponential"),
        (summed, "average the two directions"),
        (per_pair, "average it"),
    ]
    verify_checker(check_symmetric_clip_loss, solution, mistakes)
    assert check_symmetric_clip_loss(with_log_softmax) is True
    assert check_symmetric_clip_loss(symmetric_clip_loss) is True


def test_fallback_returns_the_reference_for_a_stub_and_the_student_function_once_right(capsys):
    def stub(image, text, logit_scale):
        raise NotImplementedError

    assert check_symmetric_clip_loss(stub, fallback=True) is symmetric_clip_loss
    assert "not written yet" in capsys.readouterr().out
    assert check_symmetric_clip_loss(solution, fallback=True) is solution


def test_registered_with_a_hint_and_a_solution(capsys):
    assert "symmetric_clip_loss" in exercises.EXERCISES
    exercises.hint("symmetric_clip_loss")
    assert "F.cross_entropy(logits.T" in capsys.readouterr().out
    source = exercises.solution_source("symmetric_clip_loss")
    namespace: dict = {}
    exec(source, namespace)  # the printed solution runs as written
    image, text = torch.randn(5, 3), torch.randn(5, 3)
    torch.testing.assert_close(
        namespace["symmetric_clip_loss"](image, text, 7.0), symmetric_clip_loss(image, text, 7.0)
    )
