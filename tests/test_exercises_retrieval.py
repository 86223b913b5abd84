"""exercises.check_recall_at_k: accepts the reference, names each usual slip, falls back."""

import numpy as np
import pytest

from edu_contrast import exercises, retrieval
from edu_contrast.exercises import ExerciseError


def reference(found_ids, true_ids, k):
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found_ids, true_ids)]
    return float(np.mean(hits)) / k


def _hits(f, t, k):
    return np.array([len(set(a[:k]) & set(b[:k])) for a, b in zip(f, t)])


MISTAKES = [
    (lambda f, t, k: _hits(f, t, k).mean() / f.shape[1], "not by the number of columns"),
    (lambda f, t, k: float((f[:, :k] == t[:, :k]).mean()), "position by position"),
    (lambda f, t, k: np.mean([np.isin(a[:k], b[:k]).sum() for a, b in zip(f, t)]) / k, "counted twice"),
    (lambda f, t, k: _hits(f, t, f.shape[1]).mean() / k, "only the first k columns"),
    (lambda f, t, k: _hits(f, t, k).sum() / k, "not the sum"),
    (lambda f, t, k: float(_hits(f, t, k).mean()), "divide the number of hits by k"),
    (lambda f, t, k: _hits(f, t, k) / k, "one number"),
    (lambda f, t, k: None, "no return"),
    (lambda f, t, k: 1 / 0, "ZeroDivisionError"),
    (lambda f, t, k: reference(f, t, k) + 0.01, "expected"),
]


def test_accepts_the_solution_and_names_every_mistake(capsys):
    exercises.verify_checker(exercises.check_recall_at_k, reference, MISTAKES)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(("wrong", "message"), MISTAKES)
def test_names_the_mistake(wrong, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_recall_at_k(wrong)


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert exercises.check_recall_at_k(reference, fallback=True) is reference
    assert "uses your recall_at_k" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(found_ids, true_ids, k):
        raise NotImplementedError("checked ...")

    assert exercises.check_recall_at_k(stub, fallback=True) is retrieval.recall_at_k
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.retrieval.recall_at_k" in out
    assert exercises.check_recall_at_k(MISTAKES[1][0], fallback=True) is retrieval.recall_at_k
    assert "position by position" in capsys.readouterr().out
