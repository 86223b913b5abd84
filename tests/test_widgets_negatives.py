"""Notebook 13's plots and explorers draw what the lesson computed (small fake inputs: nothing is trained)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from edu_contrast.lessons import negatives as lesson
from edu_contrast.widgets import negatives as W

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _sims(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    z1 = labels[:, None] * 2.0 + torch.randn(n, 4, generator=g)
    return lesson.anchor_similarities(z1, z1 + 0.1 * torch.randn(n, 4, generator=g), labels)


def test_plot_false_negatives_draws_three_bars_per_stand_in():
    rows = {
        "10 classes": {"measured": 0.1, "prior": 0.1, "1/C": 0.1},
        "2": {"measured": 0.5, "prior": 0.5, "1/C": 0.5},
    }
    fig = W.plot_false_negatives(rows)
    assert [round(p.get_height(), 2) for p in fig.axes[0].patches] == [0.1, 0.5, 0.1, 0.5, 0.1, 0.5]
    with pytest.raises(ValueError, match="'rows' parameter of plot_false_negatives"):
        W.plot_false_negatives({})


def test_nearest_picks_the_closest_precomputed_key():
    assert W.nearest({0.0: 1, 0.05: 2, 0.1: 3}, 0.07) == 0.05
    with pytest.raises(ValueError, match="'grid' parameter of nearest"):
        W.nearest({}, 0.1)


def test_tau_plus_explorer_redraws_at_the_slider_value():
    sums = lesson.negative_sums(_sims(), 0.5, [0.0, 0.1, 0.2])
    box = W.tau_plus_explorer(sums, prior=0.45, tau_plus=0.1)
    slider = box.children[0].children[0]
    assert slider.description == "τ⁺" and slider.value == pytest.approx(0.1)
    slider.value = 0.2
    left, right = box.last_figure.axes
    assert "τ⁺ = 0.20" in left.get_legend_handles_labels()[1][1]
    bias = [lesson.log_ratio(sums["estimate"][t], sums["true"]) for t in (0.0, 0.1, 0.2)]
    assert list(right.get_lines()[0].get_ydata()) == pytest.approx(bias)


def test_beta_explorer_plots_weights_and_the_same_class_share():
    sims = _sims()
    weights = {b: lesson.negative_weights(sims, 0.5, b) for b in (0.0, 1.0, 2.0)}
    box = W.beta_explorer(sims, weights, beta=1.0)
    slider = box.children[0].children[0]
    assert slider.description == "β"
    slider.value = 2.0
    left, right = box.last_figure.axes
    assert left.get_title() == "β = 2"
    shares = [lesson.same_class_share(weights[b], sims["same"]) for b in (0.0, 1.0, 2.0)]
    assert list(right.get_lines()[0].get_ydata()) == pytest.approx(shares)


def test_plot_comparison_draws_the_mean_bar_and_each_seed():
    table = {
        "SimCLR": {0: {"linear": 0.8}, 1: {"linear": 0.9}},
        "hard": {0: {"linear": 0.7}, 1: {"linear": 0.7}},
    }
    fig = W.plot_comparison(table, baseline=0.6)
    ax = fig.axes[0]
    assert [round(p.get_height(), 3) for p in ax.patches] == [0.85, 0.7]
    with pytest.raises(ValueError, match="'table' parameter of plot_comparison"):
        W.plot_comparison({})


def test_plot_graph_colours_nodes_by_component():
    a, component = lesson.augmentation_graph((3, 3))
    values, vectors = lesson.top_eigenvectors(a, 6)
    fig = W.plot_graph(a, component, vectors[:, :2], values)
    assert len(fig.axes) == 3 and fig.axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(1.0)
