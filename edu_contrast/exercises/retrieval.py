"""Checker for notebook 16: recall@k of an approximate index against the exact one.

``check_recall_at_k(fn)``: ``fn(found_ids, true_ids, k)`` returns the mean over queries of
|first k of found ∩ first k of true| / k as a float, compared with ``retrieval.recall_at_k``. A wrong answer
is matched against the usual slips: dividing by the wrong k (the columns returned, or the gallery), counting
order (position by position), counting a duplicated id twice, using every column instead of the first k,
summing over queries instead of averaging. ``check_recall_at_k(fn, fallback=True)`` returns the function the
notebook goes on with (``_registry``).
"""

from __future__ import annotations

import numpy as np

from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.retrieval import recall_at_k

__all__ = ["check_recall_at_k"]

NAME = "check_recall_at_k"


def _cases():
    """(found, true, k): q queries, more columns than k, found in another order, a duplicated id."""
    rng = np.random.default_rng(0)
    q, columns, n = 6, 15, 200
    true = np.stack([rng.permutation(n)[:columns] for _ in range(q)])  # (q, 15), distinct ids per row
    found = true.copy()
    for row in found:
        rng.shuffle(row[:10])  # the same top 10, another order
    found[:, 7:9] = rng.integers(n, 2 * n, size=(q, 2))  # two misses per row (ids the exact index never has)
    found[0, 9] = found[0, 0]  # a duplicated hit: HNSW padding or a buggy index
    found[1, 9] = found[1, 1]
    yield found, true, 10
    yield found, true, 5  # only the first k columns count: found's first 5 hold some of true's, not all
    yield found[:, :10], true[:, :10], 10


def _mistakes(found, true, k):
    def hits(f, t):
        return np.array([len(set(a) & set(b)) for a, b in zip(f, t)])  # (q,)

    duplicated = np.array([np.isin(a, b).sum() for a, b in zip(found[:, :k], true[:, :k])])
    return [
        (hits(found[:, :k], true[:, :k]).mean() / found.shape[1],
         "divide by k, the number of neighbours compared, not by the number of columns returned"),
        ((found[:, :k] == true[:, :k]).mean(),
         "recall@k counts the true neighbours found anywhere in the first k, in any order, not position "
         "by position: use a set intersection"),
        (duplicated.mean() / k,
         "an id found twice counted twice: count each true neighbour once (a set of the first k ids)"),
        (hits(found, true).mean() / k, "use only the first k columns of each (found[:, :k], true[:, :k])"),
        (hits(found[:, :k], true[:, :k]).sum() / k, "average over the queries (the mean), not the sum"),
        (hits(found[:, :k], true[:, :k]).mean(), "divide the number of hits by k"),
    ]  # fmt: skip


HINT = (
    "For each query (row) r: hits = len(set(found_ids[r, :k]) & set(true_ids[r, :k])) — the true top-k ids\n"
    "that the approximate search also returned, each once, in any order; then float(np.mean(hits)) / k."
)


@exercise("recall_at_k", reference=recall_at_k, hint=HINT)
def check_recall_at_k(student_fn) -> bool:
    """Check ``student_fn(found_ids, true_ids, k) -> float`` against ``retrieval.recall_at_k``."""
    for found, true, k in _cases():
        expected = recall_at_k(found, true, k)
        got = call_student(student_fn, found.copy(), true.copy(), k, name=NAME)
        if isinstance(got, np.ndarray) and got.ndim > 0:
            raise ExerciseError(
                f"{NAME}: return one number, the mean over queries; got an array {got.shape}."
            )
        try:
            got = float(got)
        except (TypeError, ValueError):
            kind = "None (no return statement?)" if got is None else type(got).__name__
            raise ExerciseError(f"{NAME}: return a float in [0, 1]. Got {kind}.") from None
        if np.isclose(got, expected, atol=1e-9):
            continue
        for wrong, hint in _mistakes(found, true, k):
            if np.isclose(got, wrong, atol=1e-9):
                raise ExerciseError(f"{NAME}: {hint} (got {got:.4f}, expected {expected:.4f}, k = {k}).")
        raise ExerciseError(
            f"{NAME}: got {got:.4f}, expected {expected:.4f} = mean over queries of "
            f"|found[:k] ∩ true[:k]| / k with k = {k}, on {len(found)} queries."
        )
    return passed(NAME, "This is the number that tells you what efSearch costs in missed neighbours.")
