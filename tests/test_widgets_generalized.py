"""Notebook 08 explorers: the toy figure, Figure A.1's histograms and the (λ, τ) grid draw their inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from edu_contrast import losses
from edu_contrast.lessons import generalized as lesson
from edu_contrast.widgets import generalized as W


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fake_run(n=60, seed=0):
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    return {"z": z, "labels": torch.arange(n) % 3, "alignment": 0.1, "uniformity": -1.5, "swd": 0.0123}


@pytest.mark.parametrize("prior", lesson.PRIORS)
def test_toy_run_plot_shows_z_prior_and_projection(prior):
    run = fake_run()
    fig = W.plot_toy_run(run, prior)
    left, right = fig.axes
    shown = left.collections[1].get_offsets()
    expected = torch.nn.functional.normalize(run["z"], dim=1) if prior == "hypersphere" else run["z"]
    np.testing.assert_allclose(shown, expected.numpy(), rtol=1e-6)
    assert "SWD 0.0123" in right.get_title()
    learned = [p for p in right.patches if p.get_fill() is False]
    assert len(learned) == 1  # the learned projection as one step outline over the prior's bars


def test_toy_run_plot_bad_inputs():
    with pytest.raises(TypeError, match="'run'"):
        W.plot_toy_run(torch.zeros(3, 2), "normal")
    bad = fake_run()
    bad["z"] = torch.zeros(10, 3)
    with pytest.raises(ValueError, match="'run'.*2-D"):
        W.plot_toy_run(bad, "normal")


def test_toy_figure_trains_and_refuses_lse_off_the_sphere():
    fig = W.toy_figure("hypercube", "swd", 2.0, steps=5)
    assert "swd to the hypercube, λ = 2" in fig.axes[0].get_title()
    fig = W.toy_figure("normal", "lse", 1.0)
    assert "only matches the uniform hypersphere" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="'weight'"):
        W.toy_figure(weight=-1.0)


def test_projection_histograms_are_figure_a1():
    g = torch.Generator().manual_seed(0)
    runs = {
        "normal": {
            "prior": "normal",
            "before": 0.2 * torch.randn(200, 8, generator=g),
            "after": losses.sample_prior("normal", 200, 8, generator=g),
        },
        "sphere": {
            "prior": "hypersphere",
            "before": torch.randn(200, 8, generator=g) + 2,
            "after": losses.sample_prior("hypersphere", 200, 8, generator=g),
        },
    }
    fig = W.plot_projection_histograms(runs, num_directions=2)
    axes = fig.axes
    assert len(axes) == 4
    for row, run in enumerate(runs.values()):
        before = lesson.swd_to_prior(run["before"], run["prior"])
        after = lesson.swd_to_prior(run["after"], run["prior"])
        assert f"SWD {before:.4f} → {after:.4f}" in axes[2 * row].get_title(loc="left")
        assert after < before
    sphere_lines = axes[2].get_lines()
    assert len(sphere_lines) == 1  # the exact density, for the hypersphere only
    assert not axes[0].get_lines()


def test_projection_histograms_bad_inputs():
    with pytest.raises(TypeError, match="'runs'"):
        W.plot_projection_histograms([])
    with pytest.raises(ValueError, match="'runs'.*'prior', 'before', 'after'"):
        W.plot_projection_histograms({"x": {"prior": "normal"}})


def test_weight_temperature_plot_draws_the_grid_and_diagonals():
    grid = {
        "weights": torch.tensor([0.5, 1.0, 2.0]),
        "temperatures": torch.tensor([0.05, 0.1]),
        "alignment": torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]),
        "uniformity": -torch.tensor([[1.0, 1.1, 1.2], [1.3, 1.4, 1.5]]),
    }
    fig = W.plot_weight_temperature(grid)
    alignment_ax = fig.axes[0]
    np.testing.assert_allclose(
        alignment_ax.collections[0].get_array().reshape(2, 3), grid["alignment"].numpy()
    )
    assert len(alignment_ax.get_lines()) == 2  # λτ = 0.05 and 0.1 each pass through two cells
    assert [t.get_text() for t in alignment_ax.texts][:3] == ["0.10", "0.20", "0.30"]
    with pytest.raises(TypeError, match="'grid'"):
        W.plot_weight_temperature({"weights": grid["weights"]})


def test_explorer_redraws_on_change():
    box = W.generalized_explorer(prior="hypercube", weight=1.0)
    first = box.last_figure
    dropdown = box.children[0].children[0]
    dropdown.value = "normal"
    assert box.last_figure is not first and "normal" in box.last_figure.axes[0].get_title()
