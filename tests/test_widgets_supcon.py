"""Notebook 07 explorers: the figures draw what the measures say; the widgets redraw on change."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from edu_contrast.lessons import supcon as G
from edu_contrast.widgets import supcon as W


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def results():
    return {
        "SupCon": {
            0.0: {"knn_accuracy": 0.98, "linear_accuracy": 0.97, "spread": 0.05},
            0.4: {"knn_accuracy": 0.90, "linear_accuracy": 0.75, "spread": 0.02},
        },
        "cross-entropy": {
            0.0: {"knn_accuracy": 0.97, "linear_accuracy": 0.96, "spread": 0.17},
            0.4: {"knn_accuracy": 0.93, "linear_accuracy": 0.78, "spread": 0.04},
        },
    }


def test_class_geometry_draws_each_cosine_matrix_and_the_simplex_line():
    labels = torch.arange(40) % 4
    collapsed = G.regular_simplex(4, 6)[labels] + 0.01 * randn(40, 6)
    spread_out = randn(40, 6, seed=1)
    fig = W.plot_class_geometry({"collapsed": collapsed, "random": spread_out}, labels)
    first, second, pairs = fig.axes[:3]
    np.testing.assert_allclose(first.images[0].get_array(), G.centred_mean_cosines(collapsed, labels).numpy())
    assert f"{G.within_class_spread(spread_out, labels):.3f}" in second.get_title()
    line = [ln for ln in pairs.get_lines() if ln.get_linestyle() == "--"][0]
    assert line.get_xdata()[0] == pytest.approx(-1 / 3)
    assert len(pairs.collections) == 2 and len(pairs.collections[0].get_offsets()) == 12  # C(C−1) pairs each


def test_class_geometry_bad_input():
    with pytest.raises(TypeError, match="'embeddings'"):
        W.plot_class_geometry([randn(4, 2)], torch.tensor([0, 0, 1, 1]))


@pytest.mark.parametrize("num_classes, dim", [(3, 2), (4, 3)])
def test_simplex_toy_shows_a_collapsed_regular_simplex(num_classes, dim):
    fig = W.plot_simplex_toy(num_classes, dim, 0.5)
    scatter_ax, hist_ax = fig.axes[0], fig.axes[1]
    assert (scatter_ax.name == "3d") == (dim == 3)
    bars = [(p.get_x(), p.get_width(), p.get_height()) for p in hist_ax.patches if p.get_height() > 0]
    assert sum(h for _, _, h in bars) == num_classes * (num_classes - 1)  # every ordered pair of classes
    target = -1 / (num_classes - 1)
    assert all(x - 1e-9 <= target <= x + w + 1e-9 for x, w, _ in bars)  # every pair at the simplex cosine
    assert "a regular simplex fits" in hist_ax.get_title()


def test_simplex_toy_says_when_the_simplex_cannot_fit():
    fig = W.plot_simplex_toy(5, 2, 0.5, steps=20)
    assert "cannot fit" in fig.axes[1].get_title()
    with pytest.raises(ValueError, match="'dim'"):
        W.plot_simplex_toy(4, 4)


def test_label_noise_plot_draws_the_numbers():
    fig = W.plot_label_noise(results(), 0.4, metric="linear_accuracy")
    left, right = fig.axes
    lines = [ln for ln in left.get_lines() if ln.get_linestyle() == "-"]
    assert [list(ln.get_ydata()) for ln in lines] == [[0.97, 0.75], [0.96, 0.78]]
    heights = [round(p.get_height(), 2) for p in right.patches]
    assert heights == [0.90, 0.75, 0.02, 0.93, 0.78, 0.04]
    assert "40%" in right.get_title()


def test_label_noise_bad_inputs():
    with pytest.raises(ValueError, match="'noise_rate'"):
        W.plot_label_noise(results(), 0.2)
    with pytest.raises(ValueError, match="'metric'"):
        W.plot_label_noise(results(), 0.4, metric="accuracy")
    uneven = results()
    del uneven["SupCon"][0.4]
    with pytest.raises(ValueError, match="same noise rates"):
        W.plot_label_noise(uneven, 0.0)


def test_explorers_redraw_on_change():
    box = W.noise_explorer(results())
    first = box.last_figure
    slider = box.children[0].children[0]
    slider.value = 0.0
    assert box.last_figure is not first and "0%" in box.last_figure.axes[1].get_title()
    box = W.simplex_explorer(num_classes=3, dim=2)
    box.children[0].children[0].value = 4
    assert "C = 4" in box.last_figure.axes[0].get_title()
