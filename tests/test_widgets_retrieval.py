"""widgets.retrieval: the figures draw the lesson's numbers, and the sliders redraw without searching."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from edu_contrast.widgets import retrieval as w  # noqa: E402


def sweep(n: int, recalls) -> dict:
    rows = [{"ef_search": ef, "recall": r, "qps": 1e5 / ef} for ef, r in zip((8, 16, 64), recalls)]
    return {"exact": {"qps": 2000.0, "bytes": 256.0}, "hnsw": rows, "bytes": 528.0, "n": n, "dim": 64}


SWEEPS = {"Fashion-MNIST h": sweep(1000, (0.9, 0.97, 1.0)), "random vectors": sweep(2000, (0.5, 0.7, 0.95))}


def test_the_tradeoff_plot_has_a_curve_and_a_star_per_gallery_and_circles_the_chosen_ef():
    fig = w.plot_tradeoff(SWEEPS, ef_search=16)
    lines = fig.axes[0].get_lines()
    curves = [line for line in lines if line.get_linestyle() == "-"]
    assert [list(c.get_xdata()) for c in curves] == [[0.9, 0.97, 1.0], [0.5, 0.7, 0.95]]
    circled = [line for line in lines if line.get_markerfacecolor() == "none"]
    assert sorted(float(c.get_xdata()[0]) for c in circled) == [0.7, 0.97]
    assert "efSearch = 16" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="sweeps"):
        w.plot_tradeoff({})


def test_the_tradeoff_slider_only_redraws_the_measured_values():
    box = w.tradeoff_explorer(SWEEPS, ef_search=64)
    (slider,) = box.children[0].children
    assert list(slider.options) == [8, 16, 64]
    slider.value = 8
    assert "efSearch = 8" in box.last_figure.axes[0].get_title()
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="ef_search"):
        w.tradeoff_explorer(SWEEPS, ef_search=32)


def test_the_query_explorer_draws_the_query_and_its_neighbours_marking_other_classes():
    images = np.random.default_rng(0).integers(0, 256, size=(6, 1, 8, 8), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1, 0, 1])
    ids = np.array([[0, 1, 2, 4], [1, 0, 3, 5], [2, 3, 5, 0], [3, 2, 5, 1], [4, 0, 1, 2], [5, 3, 2, 4]])
    box = w.query_explorer(images, ids, labels=labels, classes=["shirt", "shoe"])
    assert len(box.last_figure.axes) == 4  # the query and its 3 neighbours (itself left out)
    (slider,) = box.children[0].children
    slider.value = 2
    titles = [ax.title for ax in box.last_figure.axes]
    assert titles[0].get_text() == "query #2\nshoe" and titles[1].get_text() == "1. shoe"
    assert titles[3].get_text() == "3. shirt" and titles[3].get_color() == "tab:red"
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="ids"):
        w.plot_neighbours(images, 0, [0])


def test_the_growth_plot_draws_both_indexes_and_the_build_time():
    rows = [{"n": n, "exact_qps": 1e7 / n, "hnsw_qps": 5000.0, "build_s": n / 1e4} for n in (1e3, 1e4)]
    fig = w.plot_growth(rows)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 2
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == [0.1, 1.0]
    plt.close(fig)
    with pytest.raises(ValueError, match="rows"):
        w.plot_growth([])
