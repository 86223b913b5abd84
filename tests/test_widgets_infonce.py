"""Notebook 01 plots and explorer: the curves are the right functions, and the sliders redraw."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from edu_contrast.lessons import infonce as lesson  # noqa: E402
from edu_contrast.widgets import infonce as w  # noqa: E402


def test_margin_loss_curves_are_d_squared_and_hinge_squared():
    fig = w.plot_margin_loss(margin=1.5)
    positive, negative = fig.axes[0].lines[:2]
    d = positive.get_xdata()
    np.testing.assert_allclose(positive.get_ydata(), d**2, atol=1e-12)
    np.testing.assert_allclose(negative.get_ydata(), np.maximum(0, 1.5 - d) ** 2, atol=1e-12)
    plt.close(fig)


def test_plot_infonce_bound_draws_both_ceilings_and_the_learned_points():
    fig = w.plot_infonce_bound(0.5, 4, 16, max_batch_size=64, learned={4: 0.9, 16: 1.2})
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    log_n = ax.lines[labels.index("log N (the ceiling of any critic)")]
    np.testing.assert_allclose(log_n.get_ydata(), np.log(log_n.get_xdata()))
    true_mi = ax.lines[[i for i, s in enumerate(labels) if s.startswith("true MI")][0]]
    assert true_mi.get_ydata()[0] == pytest.approx(lesson.gaussian_mutual_information(0.5, 4))
    learned = ax.lines[labels.index("InfoNCE, trained critic")]
    assert list(learned.get_xdata()) == [4, 16] and list(learned.get_ydata()) == [0.9, 1.2]
    star = ax.lines[[i for i, s in enumerate(labels) if s.startswith("N = 16")][0]]
    assert list(star.get_xdata()) == [16] and star.get_ydata()[0] <= math.log(16)
    plt.close(fig)


def test_mi_explorer_redraws_when_a_slider_moves():
    box = w.mi_explorer(rho=0.7, dim=10, batch_size=64)
    rho, dim, batch = box.children[0].children
    assert (rho.description, dim.description, batch.description) == ("ρ", "d", "N")
    first = box.last_figure
    rho.value = 0.9
    assert box.last_figure is not first
    assert box.last_figure.axes[0].get_title().startswith("ρ = 0.90, d = 10")
    batch.value = 256
    labels = [line.get_label() for line in box.last_figure.axes[0].lines]
    assert any(label.startswith("N = 256") for label in labels)
    assert box.last_figure.number not in plt.get_fignums()  # closed after display: pyplot keeps nothing


def test_live_explorer_calls_draw_with_the_current_values():
    import ipywidgets as widgets

    calls = []

    def draw(a, b):
        calls.append((a, b))
        return plt.figure()

    box = w.live_explorer(draw, {"a": widgets.IntSlider(value=1), "b": widgets.IntSlider(value=2)})
    box.children[0].children[1].value = 5
    assert calls == [(1, 2), (1, 5)]
    assert plt.get_fignums() == []


def test_mi_explorer_rejects_a_batch_size_off_the_slider():
    with pytest.raises(ValueError, match="'batch_size' parameter of mi_explorer"):
        w.mi_explorer(batch_size=100)
