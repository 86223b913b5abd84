"""What every explorer shares: wiring a drawing function to sliders, and the log-scale slider.

Each widget module draws with plain functions of numbers (testable without a browser); these two
helpers turn such a function into an interactive figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt

__all__ = ["live_explorer", "log_slider"]


def live_explorer(draw: Callable, controls: Mapping[str, object], *, show_static: bool = True):
    """Wire ``draw(**values) -> Figure`` to ipywidgets ``controls`` {keyword: widget}; return the box.

    The default figure is displayed first as a plain output (readable without a kernel); the first
    redraw blanks it and draws into the box's one ``Output`` instead, which every later change clears
    and redraws. ``box.last_figure`` is the latest figure (closed after display, so pyplot keeps none).
    """
    import ipywidgets as widgets
    from IPython.display import display

    def values():
        return {key: widget.value for key, widget in controls.items()}

    out = widgets.Output()
    box = widgets.VBox([widgets.HBox(list(controls.values())), out])
    box.last_figure = draw(**values())
    static = display(box.last_figure, display_id=True) if show_static else None
    plt.close(box.last_figure)

    def redraw(_change=None):
        nonlocal static
        if static is not None:  # one figure on the page at a time
            static.update({"text/plain": ""}, raw=True)
            static = None
        with out:  # an error in draw shows up here, under the sliders
            out.clear_output(wait=True)
            box.last_figure = draw(**values())
            display(box.last_figure)
            plt.close(box.last_figure)

    for widget in controls.values():
        widget.observe(redraw, names="value")
    box.redraw = redraw
    return box


def log_slider(value: float, low: float, high: float, description: str, *, step: float = 0.25, **options):
    """A ``FloatLogSlider`` from 10^low to 10^high (``step`` in powers of ten) that redraws on release.

    ``options`` go to ipywidgets (e.g. ``readout_format=".3f"``). Used for τ and λ, which matter by ratio.
    """
    import ipywidgets as widgets

    options.setdefault("style", {"description_width": "initial"})
    return widgets.FloatLogSlider(
        value=value, base=10, min=low, max=high, step=step, description=description,
        continuous_update=False, **options
    )  # fmt: skip
