"""Notebook 04's explorer and plots: the synthetic collapses, the run plots and the ablation toggles."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from edu_contrast import diagnostics
from edu_contrast.lessons import collapse as lesson
from edu_contrast.lessons.collapse import Run
from edu_contrast.widgets import collapse as C

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fake_run(name="run", *, epochs=3, n=40, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    history = [
        {
            "epoch": e,
            "loss": 1.0,
            "knn_accuracy": 0.9,
            "alignment": 0.5,
            "uniformity": -1.0,
            "pair_distance": 1.2,
            "std_z": 0.5 / (1 + e),
            "erank_z": 5.0 - e,
            "erank_h": 6.0,
            "knn_z": 0.7,
        }
        for e in range(epochs + 1)
    ]
    return Run(
        name,
        history,
        0.8,
        torch.randn(n, dim, generator=g),
        torch.randn(n, 2 * dim, generator=g),
        torch.arange(n) % 3,
        seconds=1.5,
    )


# ----------------------------------------------------------------------------- the three signatures


def test_plot_collapse_kinds_labels_the_effective_ranks():
    kinds = {kind: lesson.synthetic_embeddings(kind) for kind in lesson.KINDS}
    fig = C.plot_collapse_kinds(kinds)
    bars = fig.axes[1].containers[0]
    heights = [bar.get_height() for bar in bars]
    assert heights == pytest.approx([diagnostics.effective_rank(z) for z in kinds.values()])
    with pytest.raises(TypeError, match="'embeddings' parameter of plot_collapse_kinds"):
        C.plot_collapse_kinds([])


# ----------------------------------------------------------------------------- runs


def test_plot_runs_draws_the_spectrum_and_the_history():
    runs = {"a": fake_run("a"), "b": fake_run("b", seed=1)}
    fig = C.plot_runs(runs)
    assert len(fig.axes) == 1 + len(C.RUN_PANELS)
    assert len(fig.axes[0].get_lines()) == 2 and fig.axes[3].get_yscale() == "log"  # std_z on a log axis
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == [5.0, 4.0, 3.0, 2.0]
    spectrum_h = C.plot_runs(runs, panels=(("erank_h", "h"),), space="h").axes[0].get_lines()[0]
    assert len(spectrum_h.get_xdata()) == 16  # h has 16 columns
    with pytest.raises(ValueError, match="'space' parameter of plot_runs must be one of 'z', 'h'"):
        C.plot_runs(runs, space="x")
    with pytest.raises(TypeError, match="a dict of Run"):
        C.plot_runs({"a": 1})


def test_summary_table_has_one_row_per_run():
    table = C.summary_table({"first": fake_run(), "second": fake_run(seed=1)})
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["first", "second"]
    assert table.loc["first", "erank_z"] == 2.0 and table.loc["second", "linear_accuracy"] == 0.8


def test_plot_ablation_draws_the_run_against_its_reference():
    reference, run = fake_run("healthy"), fake_run("broken", seed=1)
    legend = C.plot_ablation(run, reference).axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["healthy", "broken"]
    assert len(C.plot_ablation(reference, reference).axes[0].get_lines()) == 1


# ----------------------------------------------------------------------------- the explorer


def test_collapse_explorer_trains_on_demand_and_shows_only_the_family_switches():
    calls = []

    def run_for(family, **switches):
        calls.append((family, switches))
        return fake_run(lesson.ablation_name(family, **switches), seed=len(calls))

    box = C.collapse_explorer(run_for, family="simclr", projector=False)
    assert calls[0] == ("simclr", {"projector": False, "augmentation": "default", "batch_size": 256})
    assert calls[1] == ("simclr", {})  # the healthy reference
    rows = box.children[0].children
    controls = {row.children[0].description: row.children[0] for row in rows}
    visible = {name for name, row in zip(controls, rows) if row.layout.display != "none"}
    assert visible == {"family", "projector", "augmentation", "batch size"}
    controls["batch size"].value = 32
    assert calls[-2] == ("simclr", {"projector": False, "augmentation": "default", "batch_size": 32})
    legend = box.last_figure.axes[0].get_legend()
    assert legend.get_texts()[1].get_text() == "simclr · projector=off · batch_size=32"
    controls["family"].value = "align_uniform"
    assert calls[-2] == ("align_uniform", {"uniformity": True})
    visible = {name for name, row in zip(controls, rows) if row.layout.display != "none"}
    assert visible == {"family", "uniformity"}


def test_collapse_explorer_checks_its_arguments():
    with pytest.raises(TypeError, match="'run_for' parameter of collapse_explorer"):
        C.collapse_explorer(None)
    with pytest.raises(ValueError, match="switches of 'simclr' among"):
        C.collapse_explorer(lambda family, **s: fake_run(), family="simclr", uniformity=False)
