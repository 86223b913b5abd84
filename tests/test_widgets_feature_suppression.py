"""Notebook 05 explorers: they draw what the runs say, and fail clearly on bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from edu_contrast import data
from edu_contrast.widgets import feature_suppression as W


def _randbit_runs():
    rng = np.random.default_rng(0)
    runs = []
    for tau in (0.5, 0.1):
        for k, acc in ((0, 0.97), (2, 0.8), (4, 0.4)):
            runs.append(
                {
                    "bits": k,
                    "temperature": tau,
                    "content_accuracy": acc - (0.1 if tau == 0.5 else 0),
                    "bit_accuracy": None if k == 0 else 1.0,
                    "erank_h": 10.0,
                    "seconds": 1.0,
                    "coords": rng.normal(size=(30, 2)).tolist(),
                    "labels": (np.arange(30) % 10).tolist(),
                    "values": (np.arange(30) % max(1, 2**k)).tolist(),
                }
            )
    return runs


def _multidigits_runs():
    return [
        {"large_size": L, "small_size": 4, "method": m, "small_accuracy": s, "large_accuracy": 0.9}
        for m, accs in (("simclr", (0.8, 0.4)), ("supervised", (0.9, 0.9)), ("random", (0.5, 0.5)))
        for L, s in zip((4, 12), accs)
    ]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_show_randbit_image_shows_each_bit_plane():
    base = data.load_dataset("digits", "test")
    randbit = data.RandBit(base, 3, generator=torch.Generator().manual_seed(0))
    fig = W.show_randbit_image(randbit, 2)
    u = int(randbit.bit_labels[2])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[1:] == [f"b{j} = {(u >> j) & 1}" for j in range(3)]
    shown = fig.axes[1 + 2].images[0].get_array()
    assert np.all(shown == 255 * ((u >> 2) & 1))  # plane b2 is constant: 0 or 255
    with pytest.raises(TypeError, match="'dataset' parameter of show_randbit_image must be a data.RandBit"):
        W.show_randbit_image(base)


def test_plot_randbit_sweep_draws_content_and_bits_per_temperature():
    fig = W.plot_randbit_sweep(_randbit_runs())
    lines = [line for line in fig.axes[0].lines if line.get_label().startswith(("digit", "bits"))]
    assert len(lines) == 4  # 2 temperatures × (content, bits)
    content = next(line for line in lines if line.get_label() == "digit (content), τ = 0.5")
    assert list(content.get_xdata()) == [0, 2, 4]
    assert list(content.get_ydata()) == pytest.approx([0.87, 0.7, 0.3])
    bits = next(line for line in lines if line.get_label() == "bits of u, τ = 0.1")
    assert list(bits.get_xdata()) == [2, 4]  # k = 0 has no bits to probe


def test_find_run_and_its_error():
    runs = _randbit_runs()
    assert W.find_run(runs, bits=2, temperature=0.1)["content_accuracy"] == 0.8
    with pytest.raises(
        ValueError, match=r"'match' parameter of find_run must be values of \('bits', 'temperature'\)"
    ):
        W.find_run(runs, bits=3, temperature=0.1)
    with pytest.raises(ValueError, match="'runs' parameter of find_run"):
        W.find_run([], bits=3)


def test_randbit_explorer_redraws_the_chosen_run():
    box = W.randbit_explorer(_randbit_runs())
    assert box.last_figure._suptitle.get_text() == "SimCLR on RandBit, k = 4, τ = 0.5"
    slider, toggle = box.children[0].children
    slider.value = 0
    assert box.last_figure._suptitle.get_text() == "SimCLR on RandBit, k = 0, τ = 0.5"
    toggle.value = 0.1
    bars = box.last_figure.axes[2].patches
    assert len(bars) == 1 and bars[0].get_height() == pytest.approx(0.97)


def test_multidigits_sweep_and_explorer():
    runs = _multidigits_runs()
    fig = W.plot_multidigits_sweep(runs, highlight=12)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert "SimCLR: small digit" in labels and "supervised: large digit" in labels
    simclr = next(line for line in fig.axes[0].lines if line.get_label() == "SimCLR: small digit")
    assert list(simclr.get_ydata()) == [0.8, 0.4]
    base = data.load_dataset("digits", "test")
    box = W.multidigits_explorer(runs, base, small_size=4, canvas=16)
    box.children[0].children[0].value = 4
    assert "L = 4" in box.last_figure._suptitle.get_text()
    assert len(box.last_figure.axes) == 9  # 8 example canvases and the sweep


def test_show_multidigits_labels_each_canvas():
    base = data.load_dataset("digits", "test")
    multi = data.MultiDigits(base, 4, 8, 12, generator=torch.Generator().manual_seed(0))
    fig = W.show_multidigits(multi, 3)
    assert [ax.get_title() for ax in fig.axes] == [
        f"L:{int(multi.labels_large[i])}  S:{int(multi.labels_small[i])}" for i in range(3)
    ]
    with pytest.raises(TypeError, match="must be a data.MultiDigits"):
        W.show_multidigits(base)
