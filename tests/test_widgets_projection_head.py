"""Notebook 11's plots and explorer draw what the lesson computed (fake results: nothing is trained)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from edu_contrast.lessons.projection_head import AblationRun, loss_spread
from edu_contrast.widgets import projection_head as W

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


TABLE = {
    "NT-Xent": {0: {"h": 0.70, "z": 0.70}, 2: {"h": 0.74, "z": 0.71}},
    "SWD → normal": {0: {"h": 0.60, "z": 0.60}, 2: {"h": 0.73, "z": 0.69}},
}
SPREAD = {"h": loss_spread(TABLE, "h"), "z": loss_spread(TABLE, "z")}


def fake_run(name="run", epochs=3, d=6):
    decay = [
        torch.logspace(0, -(e + 1), d, dtype=torch.float64) for e in range(epochs + 1)
    ]  # steeper each epoch
    return AblationRun(
        name,
        spectra=[2.0 * s for s in decay],
        erank_z=[6.0 - e for e in range(epochs + 1)],
        erank_h=[5.0] * (epochs + 1),
        knn_accuracy=[0.5] * (epochs + 1),
        linear_accuracy=0.6,
    )


def test_head_depth_table_has_a_column_per_depth_and_probe_and_the_spread_row():
    frame = W.head_depth_table(TABLE, SPREAD)
    assert frame.loc["NT-Xent", ("L = 2", "z")] == 0.71
    assert frame.loc["spread (max − min)", ("L = 0", "h")] == pytest.approx(0.10)
    assert frame.loc["spread (max − min)", ("L = 2", "h")] == pytest.approx(0.01)
    with pytest.raises(TypeError, match="'table' parameter of head_depth_table"):
        W.head_depth_table({})


def test_plot_head_depth_draws_h_and_z_per_loss_and_the_spread_bars():
    fig = W.plot_head_depth(TABLE, SPREAD, baseline=0.65)
    left, right = fig.axes
    assert len(left.get_lines()) == 2 * len(TABLE) + 1  # h and z per loss, the baseline
    assert list(left.get_lines()[0].get_ydata()) == [0.70, 0.74]
    heights = [bar.get_height() for bar in right.patches]
    assert heights == pytest.approx([0.10, 0.01, 0.10, 0.02])  # h bars, then z bars


def test_plot_spectrum_epochs_normalises_each_spectrum_and_marks_the_epoch():
    run = fake_run()
    fig = W.plot_spectrum_epochs(run, epoch=1)
    spectrum_ax, rank_ax = fig.axes
    lines = spectrum_ax.get_lines()
    assert len(lines) == run.epochs + 1 and lines[1].get_color() == "red"
    assert lines[0].get_ydata()[0] == pytest.approx(1.0)  # λ_k / λ_1 starts at 1
    assert lines[2].get_ydata()[-1] == pytest.approx(1e-3)
    assert list(rank_ax.get_lines()[0].get_ydata()) == [6.0, 5.0, 4.0, 3.0]
    with pytest.raises(ValueError, match="'epoch' parameter of plot_spectrum_epochs must be <= 3"):
        W.plot_spectrum_epochs(run, epoch=4)
    with pytest.raises(TypeError, match="an AblationRun"):
        W.plot_spectrum_epochs({"spectra": []})


def test_plot_ablation_spectra_draws_one_panel_per_run_and_hides_the_rest():
    runs = {name: fake_run(name) for name in "abcde"}
    fig = W.plot_ablation_spectra(runs, columns=4)
    assert len(fig.axes) == 8
    assert sum(ax.get_visible() and ax.axison for ax in fig.axes) == 5
    assert fig.axes[4].get_title().startswith("e\nerank z 3.0")


def test_ablation_explorer_redraws_the_chosen_run_and_epoch():
    runs = {"a": fake_run("a", epochs=2), "b": fake_run("b", epochs=4)}
    box = W.ablation_explorer(runs, name="a", epoch=1)
    chooser, slider = box.children[0].children
    assert slider.max == 4 and slider.value == 1
    assert box.last_figure.axes[0].get_title() == "a"
    chooser.value, slider.value = "b", 4
    assert box.last_figure.axes[0].get_title() == "b"
    assert box.last_figure.axes[0].get_lines()[4].get_color() == "red"
    chooser.value = "a"  # epoch 4 is past a's last epoch: its last one is shown
    assert box.last_figure.axes[0].get_lines()[2].get_color() == "red"
    with pytest.raises(ValueError, match="'name' parameter of ablation_explorer"):
        W.ablation_explorer(runs, name="c")


def test_batch_queue_table_and_plot_colour_the_families():
    rows = {
        "SimCLR N=32": {
            "negatives": 62,
            "steps": 10,
            "linear_accuracy": 0.7,
            "knn_accuracy": 0.6,
            "seconds": 1.0,
        },
        "MoCo N=32 M=256 β=0.99": {
            "negatives": 256,
            "steps": 10,
            "linear_accuracy": 0.72,
            "knn_accuracy": 0.6,
            "seconds": 1.0,
        },
        "MoCo N=32 M=256 β=0": {
            "negatives": 256,
            "steps": 10,
            "linear_accuracy": 0.65,
            "knn_accuracy": 0.5,
            "seconds": 1.0,
        },
    }
    assert list(W.batch_queue_table(rows)["negatives"]) == [62, 256, 256]
    fig = W.plot_batch_queue(rows, baseline=0.6)
    bars = fig.axes[0].patches
    assert [b.get_height() for b in bars] == pytest.approx([0.7, 0.72, 0.65])
    assert [matplotlib.colors.to_hex(b.get_facecolor()) for b in bars] == [
        matplotlib.colors.to_hex(c) for c in ("C0", "C1", "C3")
    ]
    with pytest.raises(ValueError, match="'rows' parameter of plot_batch_queue"):
        W.plot_batch_queue({})
