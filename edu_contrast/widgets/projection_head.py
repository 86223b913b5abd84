"""Notebook 11's plots and explorer: head depth × loss, spectra over epochs, batch against queue.

Every function draws what ``lessons.projection_head`` computed; nothing here trains or measures.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pandas as pd
import torch

from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.lessons.projection_head import AblationRun
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "head_depth_table",
    "plot_head_depth",
    "plot_spectrum_epochs",
    "plot_ablation_spectra",
    "ablation_explorer",
    "batch_queue_table",
    "plot_batch_queue",
]


def _check_table(table, where: str) -> dict:
    if not isinstance(table, Mapping) or not table:
        fail("table", where, "a head_depth_study result {loss: {depth: {'h', 'z'}}}", repr(table), TypeError)
    return dict(table)


def head_depth_table(table: Mapping, spread: Mapping | None = None) -> pd.DataFrame:
    """Rows: losses (+ a "spread" row when ``spread`` is given); columns: (depth, "h"/"z") probe accuracy."""
    table = _check_table(table, "head_depth_table")
    rows = {loss: {(f"L = {d}", s): r[d][s] for d in r for s in ("h", "z")} for loss, r in table.items()}
    if spread is not None:
        rows["spread (max − min)"] = {(f"L = {d}", s): spread[s][d] for d in spread["h"] for s in ("h", "z")}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["head depth", "probe on"])
    return frame.round(3)


def plot_head_depth(table: Mapping, spread: Mapping, *, baseline: float | None = None):
    """Left: probe accuracy on h (solid) and z (dashed) against head depth, per loss; right: the spread.

    ``spread`` is ``{"h": loss_spread(table, "h"), "z": loss_spread(table, "z")}``; ``baseline`` the
    random encoder's probe on h (a grey line).
    """
    table = _check_table(table, "plot_head_depth")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (loss, runs) in enumerate(table.items()):
        depths = sorted(runs)
        colour = f"C{i}"
        left.plot(depths, [runs[d]["h"] for d in depths], "o-", color=colour, label=f"{loss}: h")
        left.plot(depths, [runs[d]["z"] for d in depths], "s--", color=colour, alpha=0.6, label=f"{loss}: z")
    if baseline is not None:
        left.axhline(baseline, color="grey", lw=1, ls=":", label="random encoder: h")
    left.set(
        xlabel="projection head depth L (0: z = h)", ylabel="linear probe accuracy", title="probe h vs z"
    )
    left.set_xticks(sorted(next(iter(table.values()))))
    left.legend(fontsize="x-small", ncol=2)
    depths = sorted(spread["h"])
    width = 0.38
    for offset, space in ((-width / 2, "h"), (width / 2, "z")):
        right.bar(
            [d + offset for d in depths], [spread[space][d] for d in depths], width, label=f"on {space}"
        )
    right.set(xlabel="projection head depth L", ylabel="max − min over losses", title="spread between losses")
    right.set_xticks(depths)
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig


def _spectrum_lines(ax, run: AblationRun, epoch: int | None = None) -> None:
    """The covariance spectrum λ_k / λ_1 of every epoch, dark (epoch 0) to light; ``epoch`` drawn in red."""
    colours = plt.cm.viridis(torch.linspace(0, 0.95, len(run.spectra)).tolist())
    for e, (spectrum, colour) in enumerate(zip(run.spectra, colours)):
        values = (spectrum / spectrum[0]).clamp(min=1e-12)  # (d,) λ_k / λ_1
        highlighted = epoch is not None and e == epoch
        ax.semilogy(
            range(1, len(values) + 1), values, color="red" if highlighted else colour,
            lw=2.2 if highlighted else 1.0, alpha=1.0 if highlighted or epoch is None else 0.45,
            label=f"epoch {e}" if e in (0, run.epochs) or highlighted else None,
        )  # fmt: skip
    ax.set(xlabel="k", ylabel="λ_k / λ_1", title=run.name, ylim=(1e-6, 1.5))


def plot_spectrum_epochs(run: AblationRun, epoch: int | None = None):
    """One ablation: its spectrum over the epochs (left) and erank(z), erank(h) per epoch (right)."""
    if not isinstance(run, AblationRun):
        fail("run", "plot_spectrum_epochs", "an AblationRun", type(run).__name__, TypeError)
    if epoch is not None:
        epoch = check_int(epoch, "epoch", "plot_spectrum_epochs", minimum=0)
        if epoch > run.epochs:
            fail("epoch", "plot_spectrum_epochs", f"<= {run.epochs} (the run's last epoch)", epoch)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    _spectrum_lines(left, run, epoch)
    left.legend(fontsize="x-small")
    epochs = range(len(run.erank_z))
    right.plot(epochs, run.erank_z, "o-", label="erank(z)")
    right.plot(epochs, run.erank_h, "s-", label="erank(h)")
    if epoch is not None:
        right.axvline(epoch, color="red", lw=1)
    right.set(
        xlabel="epoch (0: before training)", ylabel="effective rank", title="effective rank over epochs"
    )
    right.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_ablation_spectra(runs: Mapping[str, AblationRun], *, columns: int = 4):
    """A spectrum-over-epochs panel per ablation, on a shared y axis."""
    if not runs or not all(isinstance(r, AblationRun) for r in runs.values()):
        fail("runs", "plot_ablation_spectra", "a dict of AblationRun", repr(type(runs).__name__), TypeError)
    rows = -(-len(runs) // columns)  # ceil
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.8 * rows), sharey=True, squeeze=False)
    for ax, run in zip(axes.flat, runs.values()):
        _spectrum_lines(ax, run)
        ax.set_title(f"{run.name}\nerank z {run.erank_z[-1]:.1f}, h {run.erank_h[-1]:.1f}", fontsize="small")
    for ax in list(axes.flat)[len(runs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def ablation_explorer(runs: Mapping[str, AblationRun], *, name: str | None = None, epoch: int | None = None):
    """Pick an ablation and scrub through its epochs: ``plot_spectrum_epochs`` of the chosen run."""
    if not runs:
        fail("runs", "ablation_explorer", "at least one AblationRun", "an empty dict")
    name = next(iter(runs)) if name is None else check_choice(name, "name", "ablation_explorer", runs)
    last = max(r.epochs for r in runs.values())
    chooser = widgets.Dropdown(options=list(runs), value=name, description="ablation")
    slider = widgets.IntSlider(
        value=last if epoch is None else epoch, min=0, max=last, description="epoch", continuous_update=False
    )

    def draw(name, epoch):
        return plot_spectrum_epochs(runs[name], min(epoch, runs[name].epochs))

    return live_explorer(draw, {"name": chooser, "epoch": slider})


def batch_queue_table(rows: Mapping[str, dict]) -> pd.DataFrame:
    """The batch-against-queue runs as a table: negatives per query, steps, probes, seconds."""
    if not rows:
        fail("rows", "batch_queue_table", "a batch_queue_study result", "an empty dict")
    columns = ["negatives", "steps", "linear_accuracy", "knn_accuracy", "seconds"]
    return pd.DataFrame.from_dict(rows, orient="index")[columns].round(3)


def plot_batch_queue(rows: Mapping[str, dict], *, baseline: float | None = None):
    """Linear-probe accuracy of every run as a bar, SimCLR blue, MoCo β = 0.99 orange, MoCo β = 0 red."""
    if not rows:
        fail("rows", "plot_batch_queue", "a batch_queue_study result", "an empty dict")
    fig, ax = plt.subplots(figsize=(9, 3.6))
    names = list(rows)
    colours = ["C0" if n.startswith("SimCLR") else ("C3" if n.endswith("β=0") else "C1") for n in names]
    ax.bar(range(len(names)), [rows[n]["linear_accuracy"] for n in names], color=colours)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls=":", label="random encoder")
        ax.legend(fontsize="small")
    low = min(r["linear_accuracy"] for r in rows.values())
    ax.set_ylim(max(0.0, low - 0.05), None)
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize="small")
    ax.set(ylabel="linear probe accuracy (h)", title="a large batch against a small batch and a queue")
    fig.tight_layout()
    return fig
