"""Notebook 09's explorer and plots: augmentation config, the two view samplers, callbacks, table."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from edu_contrast import augment  # noqa: E402
from edu_contrast.widgets import simclr_cifar10 as w  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def image():
    return torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))  # (3, H, W) in [0, 1]


def test_draw_views_rejects_a_non_image():
    with pytest.raises(TypeError, match="'image' parameter of draw_views"):
        w.draw_views([[0.0]])


def test_draw_views_has_two_rows_of_original_plus_views(image):
    fig = w.draw_views(image, n_views=5)
    assert len(fig.axes) == 2 * 6
    assert fig.axes[0].get_ylabel() == "per_image" and fig.axes[6].get_ylabel() == "batched"


def test_plot_image_grid_one_column_per_class():
    images = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(20) % 4
    fig = w.plot_image_grid(images, labels, ["a", "b", "c", "d"], per_class=3)
    assert len(fig.axes) == 12
    assert [ax.get_title() for ax in fig.axes[:4]] == ["a", "b", "c", "d"]


def test_explorer_redraws_with_the_slider_values(monkeypatch, image):
    calls = []

    def spy(img, config, *, n_views, seed, title):
        calls.append((config, seed, title))
        return plt.figure()

    monkeypatch.setattr(w, "draw_views", spy)
    images = torch.stack([image, image.flip(-1)])
    box = w.augmentation_explorer(images, classes=["cat", "dog"], labels=torch.tensor([0, 1]))
    assert len(calls) == 1 and calls[0][0] == augment.AugmentConfig()  # the default figure
    sliders = {c.description: c for row in box.children[0].children for c in row.children}
    sliders["crop scale s_min"].value = 0.5
    sliders["image"].value = 1
    sliders["seed"].value = 7
    config, seed, title = calls[-1]
    assert config.crop_scale == (0.5, 1.0) and seed == 7 and "image 1 — dog" in title
    assert len(calls) == 4


def test_explorer_rejects_grayscale_images():
    with pytest.raises(ValueError, match="'images' parameter of augmentation_explorer"):
        w.augmentation_explorer(torch.zeros(4, 1, 8, 8))


def _history(offset):
    return [
        {
            "epoch": e,
            "loss": 5.0 - e + offset,
            "knn_accuracy": 0.1 * e,
            "positive_cosine": 0.9,
            "erank_z": 2.0 + e,
        }
        for e in range(3)
    ]


def test_plot_runs_one_line_per_run_per_key():
    fig = w.plot_runs({"τ = 0.07": _history(0), "τ = 0.5": _history(1)})
    assert len(fig.axes) == 4
    loss_axis = fig.axes[0]
    assert [line.get_label() for line in loss_axis.lines] == ["τ = 0.07", "τ = 0.5"]
    assert list(loss_axis.lines[1].get_ydata()) == [6.0, 5.0, 4.0]


def test_plot_runs_rejects_missing_keys():
    with pytest.raises(ValueError, match="run 'a' without \\['knn_accuracy'\\]"):
        w.plot_runs({"a": [{"epoch": 0, "loss": 1.0}]}, keys=["loss", "knn_accuracy"])
    with pytest.raises(TypeError, match="'histories' parameter of plot_runs"):
        w.plot_runs([])


def test_results_table_formats_percentages_and_dashes():
    table = w.results_table(
        [
            {"run": "untrained", "epochs": 0, "knn": 0.3456, "linear": None, "source": "this notebook"},
            {"run": "NT-Xent, ResNet-50", "epochs": 100, "knn": None, "linear": 0.879, "source": "published"},
        ]
    )
    lines = table.splitlines()
    assert lines[0].startswith("| run | epochs | kNN accuracy | linear-probe accuracy | source |")
    assert lines[2] == "| untrained | 0 | 34.6 % | — | this notebook |"
    assert lines[3] == "| NT-Xent, ResNet-50 | 100 | — | 87.9 % | published |"


def test_results_table_rejects_percent_given_as_number_and_missing_fields():
    with pytest.raises(ValueError, match="'linear' as a fraction in \\[0, 1\\] or None.*88"):
        w.results_table([{"run": "x", "epochs": 1, "knn": None, "linear": 88, "source": "s"}])
    with pytest.raises(ValueError, match="a row without \\['source'\\]"):
        w.results_table([{"run": "x", "epochs": 1, "knn": None, "linear": None}])
