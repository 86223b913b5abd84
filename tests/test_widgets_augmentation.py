"""Notebook 12's figures and explorer: heatmap, views, the chosen cell, the jitter histograms."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from edu_contrast.lessons import augmentation as lesson  # noqa: E402
from edu_contrast.widgets import augmentation as w  # noqa: E402

GRID = {"strengths": (0.0, 0.5), "min_scales": (0.2, 1.0), "accuracy": np.array([[0.4, 0.5], [0.6, 0.7]])}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def images():
    return torch.randint(
        0, 256, (2, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def test_heatmap_labels_every_cell_and_outlines_the_chosen_one():
    fig = w.plot_heatmap(GRID, highlight=(0.5, 0.2))
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0.400", "0.500", "0.600", "0.700"]
    outlines = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(outlines) == 1 and outlines[0].get_xy() == (-0.5, 0.5)  # column s_min = 0.2, row s = 0.5
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0.0", "0.5"]


def test_heatmap_rejects_a_cell_not_in_the_grid():
    with pytest.raises(ValueError, match="'strength' parameter of draw_cell must be one of"):
        w.plot_heatmap(GRID, highlight=(0.25, 0.2))
    with pytest.raises(ValueError, match="'min_scale' parameter of draw_cell"):
        w.draw_cell(torch.zeros(1, 3, 8, 8), GRID, 0.5, 0.08)


def test_draw_views_rows_are_images_and_views_change_with_the_strength(images):
    fig = w.draw_views(images, 0.5, 0.2, n_views=3)
    assert len(fig.axes) == 2 * 4
    shown = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(shown, images[0].permute(1, 2, 0).numpy() / 255)  # column 0: x itself
    plain = w._views(images, 0.0, 1.0, 2, seed=0)
    jittered = w._views(images, 1.0, 1.0, 2, seed=0)
    assert plain.shape == (2, 2, 3, 16, 16) and not torch.allclose(plain, jittered)


def test_draw_views_checks_its_images():
    with pytest.raises(TypeError, match="'images' parameter of draw_views"):
        w.draw_views([[0]], 0.5, 0.2)
    with pytest.raises(ValueError, match="shape \\(2, 1, 4, 4\\)"):
        w.draw_views(torch.zeros(2, 1, 4, 4), 0.5, 0.2)


def test_explorer_redraws_the_chosen_cell(images):
    box = w.augmentation_explorer(images, GRID, n_views=2)
    strength, min_scale = box.children[0].children
    assert strength.value == 0.5 and min_scale.value == 1.0
    strength.value = 0.0
    heatmap = box.last_figure.axes[-2]  # the heatmap, then its colour bar
    outline = [p for p in heatmap.patches if isinstance(p, Rectangle)][0]
    assert outline.get_xy() == (0.5, -0.5)  # s = 0 (row 0), s_min = 1.0 (column 1)


def test_jitter_comparison_has_a_panel_per_channel_and_a_histogram_per_implementation():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    summaries = {
        name: lesson.channel_summaries(j, image, 30, batch=10)
        for name, j in lesson.color_jitters(0.5).items()
    }
    fig = w.plot_jitter_comparison(summaries, title="s = 0.5")
    assert len(fig.axes) == 3 and all(len(ax.patches) == 2 for ax in fig.axes)
    assert fig.axes[0].get_legend() is not None
