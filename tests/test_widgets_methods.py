"""Notebook 06 explorers: the queue picture draws MoCo's queue; the table and the bars draw the rows."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from edu_contrast.lessons import methods as lesson
from edu_contrast.widgets import methods as W


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"queue_size": 4096, "batch_size": 64, "steps": 100, "momentum": 0.999},
        {"queue_size": 8, "batch_size": 64, "steps": 0, "momentum": 0.0},
    ],
)
def test_draw_queue_draws_one_wedge_per_age_run(kwargs):
    fig = W.draw_queue(**kwargs)
    ring = fig.axes[0]
    ages, _ = lesson.queue_ages(
        kwargs.get("queue_size", 64), kwargs.get("batch_size", 16), kwargs.get("steps", 6)
    )
    assert len(ring.patches) == len(W._runs(ages))
    plt.close(fig)


def test_runs_cover_the_queue():
    ages = np.array([2, 2, 1, 1, 0, -1, -1, 2])
    runs = W._runs(ages)
    assert runs == [(0, 2, 2), (2, 2, 1), (4, 1, 0), (5, 2, -1), (7, 1, 2)]
    assert sum(length for _, length, _ in runs) == len(ages)


def test_queue_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'momentum' parameter of draw_queue must be in \\[0, 1\\)"):
        W.draw_queue(momentum=1.0)
    with pytest.raises(ValueError, match="'queue_size' parameter of queue_ages"):
        lesson.queue_ages(0, 4, 1)
    with pytest.raises(ValueError, match="'queue_size' parameter of queue_explorer"):
        W.queue_explorer(queue_size=100)


def test_queue_explorer_redraws():
    box = W.queue_explorer()
    first = box.last_figure
    sliders = box.children[0].children
    sliders[0].value = 4096
    assert box.last_figure is not first
    assert "M = 4096" in box.last_figure.axes[0].get_title()


ROWS = {
    "SimCLR": {
        "linear_accuracy": 0.9,
        "alignment": 0.5,
        "uniformity": -3.0,
        "erank_h": 40.0,
        "seconds": 2.0,
    },
    "BYOL": {
        "linear_accuracy": 0.8,
        "alignment": 0.1,
        "uniformity": -1.0,
        "erank_h": 20.0,
        "seconds": 3.0,
    },
    "random": {"linear_accuracy": 0.7, "alignment": None, "erank_h": 60.0},
}


def test_comparison_table_bolds_the_best_of_each_column():
    table = W.comparison_table(ROWS)
    lines = table.splitlines()
    assert lines[0].startswith("| method | probe, all labels | alignment | uniformity |")
    assert "| SimCLR | **0.900** | 0.500 | **-3.000** |" in table
    assert "| BYOL | 0.800 | **0.100** |" in table
    assert "| random | 0.700 | — | — | 60.0 | — |" in table  # no positive_cosine column; erank never bold
    assert len(lines) == 2 + len(ROWS)


def test_comparison_table_rejects_unknown_columns():
    with pytest.raises(ValueError, match="'columns' parameter of comparison_table"):
        W.comparison_table(ROWS, ["speed"])
    with pytest.raises(ValueError, match="'rows' parameter of comparison_table"):
        W.comparison_table({})


def test_plot_comparison_and_explorer():
    fig = W.plot_comparison(ROWS, highlight="BYOL")
    assert len(fig.axes) == 4
    assert fig.axes[0].patches[1].get_linewidth() == 2.5
    plt.close(fig)
    coords = {name: np.random.default_rng(0).normal(size=(30, 2)) for name in ROWS}
    labels = np.arange(30) % 3
    box = W.comparison_explorer(ROWS, coords, labels)
    box.children[0].children[0].value = "BYOL"
    assert box.last_figure.axes[0].get_title().startswith("BYOL")
    plt.close("all")


def test_embedding_maps_returns_the_drawn_coordinates():
    h = {"a": torch.randn(30, 5), "b": torch.randn(30, 5), "c": torch.randn(30, 5), "d": torch.randn(30, 5)}
    fig, coords = W.embedding_maps(h, np.arange(30) % 3, method="pca", columns=3)
    assert list(coords) == ["a", "b", "c", "d"] and coords["b"].shape == (30, 2)
    expected = PCA(2, svd_solver="full", random_state=0).fit_transform(h["b"].double().numpy())
    np.testing.assert_allclose(coords["b"], expected, rtol=1e-6, atol=1e-8)
    assert not fig.axes[-1].axison  # the unused sixth panel is hidden
    plt.close(fig)
