"""widgets._core: the log-scale slider every τ and λ control uses."""

import pytest

pytest.importorskip("ipywidgets")

from edu_contrast.widgets._core import log_slider  # noqa: E402


def test_log_slider_spans_powers_of_ten_and_redraws_on_release():
    slider = log_slider(0.5, -2, 0, "τ", step=0.1, readout_format=".3f")
    assert type(slider).__name__ == "FloatLogSlider"
    assert (slider.base, slider.min, slider.max, slider.step) == (10, -2, 0, 0.1)
    assert slider.value == pytest.approx(0.5)
    assert slider.description == "τ" and slider.readout_format == ".3f"
    assert slider.continuous_update is False  # a redraw retrains nothing, but it is not free either
    slider.value = 0.01
    assert slider.value == pytest.approx(0.01)
