"""Predict, then measure: the cell after a notebook's main experiment compares the student's prediction
with what the run measured, and explains the outcome whichever way it went.

Before the experiment a notebook asks a question whose answer the run measures, and the student writes
one of the named answers (or leaves it unset):

    PREDICTION = None  # "0.05" or "1": which τ gives the lower (better) uniformity?

After the run, ``compare_prediction(PREDICTION, measured, choices, explanation)`` prints
"You predicted …; measured …" (or "No prediction recorded; measured …") and the explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

from edu_contrast._validation import fail

__all__ = ["compare_prediction"]


def _listed(choices: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in choices)


def _normalised(answer: str) -> str:
    return " ".join(str(answer).split()).lower()  # "  Yes " and "yes" are the same answer


def compare_prediction(prediction, measured: str, choices: Sequence[str], explanation: str) -> bool | None:
    """Print the student's ``prediction`` next to the ``measured`` outcome, then ``explanation``.

    ``choices`` are the allowed answers (strings, compared without case and surrounding spaces);
    ``measured`` is the one the run produced (one of ``choices``). Returns True (prediction held), False
    (it did not) or None (no prediction recorded). A prediction outside ``choices`` is a ValueError naming
    PREDICTION and the allowed values, so a typo is not silently counted as wrong.
    """
    choices = [str(c) for c in choices]
    if len(choices) < 2:
        fail("choices", "compare_prediction", "at least two answers", choices)
    by_key = {_normalised(c): c for c in choices}
    if _normalised(measured) not in by_key:
        fail(
            "measured",
            "compare_prediction",
            f"one of {_listed(choices)}",
            repr(measured),
        )
    measured = by_key[_normalised(measured)]
    if prediction is None:
        print(f"No prediction recorded; measured: {measured}.\n{explanation}")
        return None
    if not isinstance(prediction, str) or _normalised(prediction) not in by_key:
        raise ValueError(f"PREDICTION must be one of {_listed(choices)} or None. Got {prediction!r} instead.")
    predicted = by_key[_normalised(prediction)]
    held = predicted == measured
    verdict = "your prediction holds." if held else "not what you predicted; here is why."
    print(f"You predicted: {predicted}; measured: {measured}: {verdict}\n{explanation}")
    return held
