"""compare_prediction: the cell after a notebook's main experiment (predict, then measure)."""

import pytest

from edu_contrast.lessons._predict import compare_prediction

CHOICES = ("0.05", "1")


def test_a_right_prediction_says_it_holds(capsys):
    assert compare_prediction("0.05", "0.05", CHOICES, "Small τ spreads the points.") is True
    out = capsys.readouterr().out
    assert out.startswith("You predicted: 0.05; measured: 0.05: your prediction holds.")
    assert "Small τ spreads the points." in out


def test_a_wrong_prediction_is_explained(capsys):
    assert compare_prediction("1", "0.05", CHOICES, "Small τ spreads the points.") is False
    out = capsys.readouterr().out
    assert out.startswith("You predicted: 1; measured: 0.05: not what you predicted")
    assert "Small τ spreads the points." in out


def test_no_prediction_still_reports_the_measurement(capsys):
    assert compare_prediction(None, "1", CHOICES, "why") is None
    assert capsys.readouterr().out == "No prediction recorded; measured: 1.\nwhy\n"


def test_answers_are_compared_without_case_or_spaces(capsys):
    assert compare_prediction("  YES ", "yes", ("yes", "no"), "") is True
    assert "You predicted: yes; measured: yes" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["0.5", 0.05, "", ["0.05"]])
def test_a_prediction_outside_the_choices_is_a_one_line_error(bad):
    with pytest.raises(ValueError) as error:
        compare_prediction(bad, "0.05", CHOICES, "why")
    message = str(error.value)
    assert "\n" not in message and "PREDICTION" in message
    assert "'0.05', '1' or None" in message and repr(bad) in message


def test_the_notebooks_own_mistakes_are_named():
    with pytest.raises(ValueError, match="'measured' parameter of compare_prediction"):
        compare_prediction(None, "2", CHOICES, "why")
    with pytest.raises(ValueError, match="'choices' parameter of compare_prediction"):
        compare_prediction(None, "1", ("1",), "why")
