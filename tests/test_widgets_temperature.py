"""widgets.temperature (notebook 02): the plots draw the lesson's numbers, and the sliders redraw."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from edu_contrast.widgets import temperature as w  # noqa: E402


def test_plot_temperature_and_the_explorer():
    fig = w.plot_temperature(0.1, 32)
    assert len(fig.axes) == 2 and "τ = 0.100, N = 32 (M = 62 negatives)" in fig.axes[0].get_title()
    plt.close(fig)
    box = w.temperature_explorer(temperature=0.2, batch_size=64)
    tau, batch = box.children[0].children
    assert tau.description == "τ"  # tests/test_browser.py finds the slider by this label
    assert type(tau).__name__ == "FloatLogSlider"
    tau.value = 0.05
    assert box.last_figure.axes[0].get_title().startswith("τ = 0.050, N = 64")
    batch.value = 128
    assert "N = 128 (M = 254 negatives)" in box.last_figure.axes[0].get_title()
    assert plt.get_fignums() == []


def test_plot_temperature_sweep_has_a_panel_per_metric():
    keys = ("alignment", "uniformity", "erank_z", "knn_accuracy", "linear_accuracy")
    rows = [{"temperature": t, **{k: float(i) for i, k in enumerate(keys)}} for t in (0.5, 0.1)]
    fig = w.plot_temperature_sweep(rows)
    assert len(fig.axes) == 4
    assert list(fig.axes[0].lines[0].get_xdata()) == [0.1, 0.5]  # sorted by τ
    plt.close(fig)


def test_plot_temperature_sweep_names_a_missing_key():
    with pytest.raises(ValueError, match="'rows'"):
        w.plot_temperature_sweep([])
    with pytest.raises(ValueError, match="the key 'erank_z'"):
        w.plot_temperature_sweep([{"temperature": 0.1, "alignment": 1.0, "uniformity": -1.0}])


def test_plot_views_and_the_switch_off_explorer():
    from edu_contrast import augment

    plt.close("all")  # a figure an earlier test left open must not count below
    images = (torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    config = augment.AugmentConfig.for_size(8)
    fig = w.plot_views(images, config, off="colour jitter", seed=1)
    assert "colour jitter switched off" in fig._suptitle.get_text()
    assert [ax.get_title() for ax in fig.axes[15:18]] == ["x (image 0)", "crop + flip", ""]  # no jitter step
    plt.close(fig)
    box = w.views_explorer(images, config)
    switch, seed = box.children[0].children
    assert switch.description == "switch off"  # tests/test_browser.py finds the dropdown by this label
    assert type(switch).__name__ == "Dropdown" and list(switch.options) == [
        "nothing",
        "crop",
        "colour jitter",
    ]
    before = box.last_figure.axes[5].images[0].get_array().copy()  # view 1 of image 0
    switch.value = "crop"
    assert "crop switched off" in box.last_figure._suptitle.get_text()
    assert (box.last_figure.axes[5].images[0].get_array() != before).any()
    assert plt.get_fignums() == []
