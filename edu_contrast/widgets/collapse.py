r"""Notebook 04 explorer: complete and dimensional collapse, seen in the spectrum and the effective rank.

    p_k = σ_k / Σ_l σ_l,    erank(Z) = exp(−Σ_k p_k log p_k)      (Roy & Vetterli 2007, ``diagnostics``)

``plot_collapse_kinds`` draws ``lessons.collapse.synthetic_embeddings``; ``plot_runs`` the tracked runs
of the collapse grid (erank_z, uniformity, std_z per epoch). ``collapse_explorer(run_for)`` toggles the
switches of ``lessons.collapse.ABLATIONS`` (the uniformity term; SimCLR's projector, augmentation
strength and batch size) and shows the chosen run against the healthy recipe of its family; runs are
trained on first use by ``run_for`` (e.g. ``lessons.collapse.run_ablation``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
import torch

from edu_contrast import diagnostics, viz
from edu_contrast._validation import check_choice, fail
from edu_contrast.lessons.collapse import ABLATIONS, Run, ablation_name, switch_label
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "plot_collapse_kinds",
    "plot_runs",
    "summary_table",
    "plot_ablation",
    "collapse_explorer",
    "RUN_PANELS",
]


def plot_collapse_kinds(embeddings: Mapping[str, torch.Tensor]):
    """Left: the centred singular spectra σ_k (log scale, not normalised: a complete collapse shows as a
    spectrum that is small everywhere, only the noise around the one point); right: erank of each z."""
    where = "plot_collapse_kinds"
    if not isinstance(embeddings, Mapping) or not embeddings:
        fail(
            "embeddings", where, "a non-empty dict name → (N, d) tensor", type(embeddings).__name__, TypeError
        )
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    viz.plot_spectrum(dict(embeddings), ax=left, title="centred singular spectrum")
    ranks = {name: diagnostics.effective_rank(z) for name, z in embeddings.items()}
    bars = right.bar(
        list(ranks), list(ranks.values()), color=["tab:blue", "tab:orange", "tab:green", "tab:red"]
    )
    right.bar_label(bars, fmt="%.1f")
    dim = next(iter(embeddings.values())).shape[1]
    right.set(ylabel="effective rank erank(z)", title=f"effective rank (d = {dim})", ylim=(0, dim * 1.1))
    return fig


# ----------------------------------------------------------------------------- training runs

RUN_PANELS = (
    ("erank_z", "effective rank of z"),
    ("uniformity", r"uniformity $\mathcal{L}_{uniform}$ of ẑ"),
    ("std_z", "std of z per coordinate"),
)


def _check_runs(runs, where: str) -> dict[str, Run]:
    if not isinstance(runs, Mapping) or not runs:
        fail(
            "runs",
            where,
            "a non-empty dict name → Run (run_ablation)",
            type(runs).__name__,
            TypeError,
        )
    for name, run in runs.items():
        if not isinstance(run, Run):
            fail("runs", where, "a dict of Run", f"{type(run).__name__} for {name!r}", TypeError)
    return dict(runs)


def plot_runs(runs: Mapping[str, Run], *, panels=RUN_PANELS, space: str = "z"):
    """The collapse picture of several runs: the centred singular spectrum σ_k/σ_1 (log scale) of the final
    embeddings, then one panel per history key of ``panels`` ((key, title) pairs) against the epoch.

    ``space`` is "z" (the projections the loss sees) or "h" (the encoder features the probes use).
    """
    where = "plot_runs"
    runs = _check_runs(runs, where)
    check_choice(space, "space", where, ("z", "h"))
    fig, axes = plt.subplots(1, 1 + len(panels), figsize=(4.2 * (1 + len(panels)), 3.6), layout="constrained")
    viz.plot_spectrum(
        {name: getattr(r, space) for name, r in runs.items()},
        ax=axes[0],
        normalize=True,
        title=f"centred spectrum of the final {space}",
    )
    axes[0].legend(fontsize="x-small")
    for ax, (key, title) in zip(axes[1:], panels):
        for name, r in runs.items():
            epochs, values = [h["epoch"] for h in r.history], [h[key] for h in r.history]
            ax.plot(epochs, values, "o-", markersize=3, label=name)
        ax.set(xlabel="epoch", title=title)
        if key == "std_z":
            ax.set_yscale("log")
    return fig


def summary_table(runs: Mapping[str, Run]):
    """A pandas DataFrame, one row per run: the final geometry, the probes and the training time."""
    rows = [_check_runs(runs, "summary_table")[name].summary() | {"run": name} for name in runs]
    return pd.DataFrame(rows).set_index("run").round(3)


def plot_ablation(run: Run, reference: Run):
    """``plot_runs`` of one ablation against its family's healthy ``reference`` run."""
    where = "plot_ablation"
    _check_runs({"run": run, "reference": reference}, where)
    if run is reference:
        return plot_runs({reference.name: reference})
    return plot_runs({reference.name: reference, run.name: run})


def collapse_explorer(run_for: Callable[..., Run], *, family: str = "simclr", **switches):
    """Toggles for the collapse grid over ``plot_ablation``.

    Args:
        run_for: ``run_for(family, **switches) -> Run``, e.g.
            ``lambda family, **s: lesson.run_ablation(family, train, test, epochs=8, **s)``
            (cached, so a setting trains once per session and then redraws instantly).
        family: the family shown first (a key of ``lessons.collapse.ABLATIONS``).
        **switches: its first switch setting (default: the healthy recipe).
    """
    where = "collapse_explorer"
    if not callable(run_for):
        fail(
            "run_for",
            where,
            "a function run_for(family, **switches) -> Run",
            type(run_for).__name__,
            TypeError,
        )
    ablation_name(family, **switches)  # validates the family and the switches
    style = {"description_width": "initial"}
    controls = {
        "family": widgets.ToggleButtons(
            options=list(ABLATIONS), value=family, description="family", style=style
        )
    }
    for fam, allowed in ABLATIONS.items():
        for key, values in allowed.items():
            if key in controls:
                continue
            value = switches.get(key, values[0]) if fam == family else values[0]
            controls[key] = widgets.ToggleButtons(
                options=[(switch_label(v), v) for v in values],
                value=value,
                description=key.replace("_", " "),
                style=style,
            )

    def draw(family, **values):
        chosen = {k: values[k] for k in ABLATIONS[family]}
        return plot_ablation(run_for(family, **chosen), run_for(family))

    box = live_explorer(draw, controls)
    rows = [widgets.HBox([controls[key]]) for key in controls]
    box.children = (widgets.VBox(rows), *box.children[1:])

    def show_switches(_change=None):
        for key, row in zip(controls, rows):
            visible = key == "family" or key in ABLATIONS[controls["family"].value]
            row.layout.display = None if visible else "none"

    controls["family"].observe(show_switches, names="value")
    show_switches()
    return box
