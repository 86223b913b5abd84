"""Notebook 03's explorers and plots: the callbacks on made-up runs, with the floor of L_uniform drawn."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from edu_contrast.lessons import alignment_uniformity as lesson
from edu_contrast.lessons.alignment_uniformity import Run
from edu_contrast.widgets import alignment_uniformity as G

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fake_run(name="run", *, dim=3, epochs=3, n=30, seed=0, snapshots=True):
    """A Run with plausible numbers, no training."""
    g = torch.Generator().manual_seed(seed)
    history = [
        {
            "epoch": e,
            "loss": 2.0 - 0.1 * e,
            "knn_accuracy": 0.9,
            "alignment": 1.5 - 0.3 * e + 0.01 * seed,
            "uniformity": -1.0 - 0.2 * e - 0.02 * seed,
            "pair_distance": 1.5,
            "std_z": 0.5,
            "erank_z": 2.5,
            "erank_h": 6.0,
            "knn_z": 0.3 + 0.1 * e + 0.01 * seed,
        }
        for e in range(epochs + 1)
    ]
    unit = lambda: F.normalize(torch.randn(n, dim, generator=g), dim=1)
    shots = [unit() for _ in range(epochs + 1)] if snapshots else []
    z = shots[-1] if snapshots else unit()
    return Run(name, history, 0.9, z, torch.randn(n, 8, generator=g), torch.arange(n) % 4, shots)


# ----------------------------------------------------------------------------- plots and explorers


@pytest.mark.parametrize("dim", [2, 3])
def test_plot_snapshot_marks_the_epoch_and_draws_the_floor(dim):
    run = fake_run(dim=dim)
    fig = G.plot_snapshot(run, 1)
    plane = fig.axes[1]
    assert "epoch 1" in fig.axes[0].get_title()
    labels = [t.get_text() for t in plane.get_legend().get_texts()]
    assert any(f"uniform on $S^{{{dim - 1}}}$" in label for label in labels)
    lines = [line.get_xdata()[0] for line in plane.get_lines() if line.get_linestyle() == "--"]
    assert lines == [pytest.approx(lesson.uniform_sphere_uniformity(dim))]
    assert "epoch 3" in G.plot_snapshot(run).axes[0].get_title()  # default: the last epoch


def test_plot_snapshot_checks_its_arguments():
    with pytest.raises(ValueError, match=r"'epoch' parameter of plot_snapshot must be <= 3"):
        G.plot_snapshot(fake_run(), 4)
    with pytest.raises(ValueError, match="a Run with snapshots"):
        G.plot_snapshot(fake_run(snapshots=False))
    with pytest.raises(TypeError, match="a Run"):
        G.plot_snapshot({"z": 1})


def test_plot_snapshots_draws_one_panel_per_epoch():
    fig = G.plot_snapshots(fake_run(dim=2, epochs=6))
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["epoch 0", "epoch 2", "epoch 4", "epoch 6"]
    assert len(G.plot_snapshots(fake_run(dim=3), epochs=[0, 3]).axes) == 2
    with pytest.raises(ValueError, match="a non-empty list of epochs in"):
        G.plot_snapshots(fake_run(), epochs=[5])


def test_snapshot_explorer_redraws_with_the_run_and_epoch():
    runs = {"a": fake_run("a", dim=3, epochs=3), "b": fake_run("b", dim=2, epochs=5)}
    box = G.snapshot_explorer(runs, run="a")
    menu, slider = box.children[0].children
    assert slider.max == 5 and "a: epoch 3" in box.last_figure.axes[0].get_title()
    slider.value = 1
    assert "a: epoch 1" in box.last_figure.axes[0].get_title()
    slider.value = 5
    assert "a: epoch 3" in box.last_figure.axes[0].get_title()  # clamped to the run's last epoch
    menu.value = "b"
    assert "b: epoch 5" in box.last_figure.axes[0].get_title()
    with pytest.raises(ValueError, match="'run' parameter of snapshot_explorer must be one of 'a', 'b'"):
        G.snapshot_explorer(runs, run="c")


def test_plot_weight_and_its_explorer():
    runs = {w: fake_run(f"λ={w}", dim=2, seed=k) for k, w in enumerate((0.0, 1.0, 2.0))}
    fig = G.plot_weight(runs, 1.0)
    assert "λ = 1" in fig.axes[0].get_title()
    knn_line = fig.axes[2].get_lines()[0]
    assert list(knn_line.get_ydata()) == [r.final["knn_z"] for r in runs.values()]
    with pytest.raises(ValueError, match="'weight' parameter of plot_weight must be one of 0, 1, 2"):
        G.plot_weight(runs, 0.5)
    box = G.weight_explorer(runs, weight=2.0)
    slider = box.children[0].children[0]
    assert "λ = 2" in box.last_figure.axes[0].get_title()
    slider.value = 0.0
    assert "λ = 0" in box.last_figure.axes[0].get_title()


def test_plot_probe_correlation_reports_spearman():
    runs = {f"r{k}": fake_run(f"r{k}", seed=k) for k in range(4)}  # alignment and kNN both grow with k
    fig = G.plot_probe_correlation(runs)
    assert "ρ = 1.00" in fig.axes[0].get_title() and "ρ = -1.00" in fig.axes[1].get_title()
    assert fig.axes[0].get_ylabel() == "kNN accuracy on ẑ"
    with pytest.raises(ValueError, match="at least 2 runs"):
        G.plot_probe_correlation({"r": fake_run()})
