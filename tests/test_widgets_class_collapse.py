"""Notebook 14 explorers: the figures draw what the study holds; the α slider only redraws trained runs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from edu_contrast.widgets import class_collapse as W


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def scores(coarse, fine_knn_z, spread):
    return {"coarse_accuracy": coarse, "fine_accuracy": 0.9, "fine_knn": 0.9, "fine_accuracy_z": 0.8,
            "fine_knn_z": fine_knn_z, "spread": spread}  # fmt: skip


def study():
    return {
        "SimCLR": scores(0.90, 0.95, 0.80),
        "SupCon": scores(0.97, 0.80, 0.03),
        "α = 0.5": scores(0.96, 0.90, 0.10),
        "α = 2": scores(0.95, 0.93, 0.35),
    }


def test_alpha_values_are_the_trained_ones_in_order():
    assert W.alpha_values(study()) == [0.0, 0.5, 2.0]
    with pytest.raises(ValueError, match="'study' parameter of alpha_values"):
        W.alpha_values({"SupCon": scores(1, 1, 1)})


def test_the_curve_draws_each_alpha_and_the_baselines():
    random = scores(0.85, 0.70, 0.6)
    fig = W.plot_alpha_effect(study(), 0.5, metric="spread", random=random)
    curve, bars = fig.axes
    line = curve.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [0.0, 0.5, 2.0])
    np.testing.assert_allclose(line.get_ydata(), [0.03, 0.10, 0.35])
    marked = curve.get_lines()[1]
    assert (marked.get_xdata()[0], marked.get_ydata()[0]) == (0.5, 0.10)
    levels = sorted(ln.get_ydata()[0] for ln in curve.get_lines()[2:])
    assert levels == [0.6, 0.8]  # SimCLR's spread and the random encoder's
    heights = [p.get_height() for p in bars.patches]
    assert heights[-3:] == [0.96, 0.90, 0.10]  # the chosen run: coarse, fine kNN on z, spread
    assert "0.5" in bars.get_title()


def test_a_value_that_was_not_trained_is_refused():
    with pytest.raises(ValueError, match="one of the trained values"):
        W.plot_alpha_effect(study(), 1.0)
    with pytest.raises(ValueError, match="'metric' parameter"):
        W.plot_alpha_effect(study(), 0.5, metric="loss")


def test_the_explorer_redraws_on_a_new_alpha_and_metric():
    box = W.alpha_explorer(study(), metric="fine_knn_z")
    slider, dropdown = box.children[0].children
    assert slider.description == "α" and slider.value == 2.0
    assert dropdown.description == "left panel"
    slider.value = 0.0
    curve = box.last_figure.axes[0]
    assert curve.get_lines()[1].get_xdata()[0] == 0.0
    dropdown.value = "coarse_accuracy"
    assert box.last_figure.axes[0].get_title() == W.METRIC_NAMES["coarse_accuracy"]
