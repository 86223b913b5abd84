r"""Notebook 03 explorers: embeddings on the circle and the sphere as training goes, and the generalized loss.

Wang & Isola 2020 measure two things of the normalised embeddings ẑ (``measure``, one definition each):

    L_align   = E ‖ẑ⁽¹⁾ − ẑ⁽²⁾‖²                        (the two augmented views of one image)
    L_uniform = log E exp(−t ‖ẑ_i − ẑ_j‖²),  t = 2      (independent pairs of clean images)

The plots draw the tracked runs of ``lessons.alignment_uniformity`` (``Run``) and the floor of L_uniform
that lesson derives: L*_d of the uniform distribution on S^{d−1} and the bound for n points.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt

from edu_contrast import viz
from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.lessons.alignment_uniformity import (
    Run,
    rank_correlation,
    uniform_sphere_uniformity,
    uniformity_lower_bound,
)
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "plot_snapshot",
    "plot_snapshots",
    "snapshot_explorer",
    "plot_weight",
    "weight_explorer",
    "plot_probe_correlation",
]


# ----------------------------------------------------------------------------- snapshots during training


def _check_run(run, where: str, *, snapshots: bool = False) -> Run:
    if not isinstance(run, Run):
        fail(
            "run", where, "a Run (from lessons.alignment_uniformity.track_run)", type(run).__name__, TypeError
        )
    if snapshots and not run.snapshots:
        fail(
            "run",
            where,
            "a Run with snapshots (2-D or 3-D embeddings, or track_run(snapshots=True))",
            f"run {run.name!r} without snapshots",
        )
    return run


def _embedding_axes(fig, spec, dim: int):
    return fig.add_subplot(spec, projection="3d") if dim == 3 else fig.add_subplot(spec)


def _draw_points(ax, z, labels, dim: int, title: str) -> None:
    if dim == 2:
        viz.plot_circle(z, labels, ax=ax, title=title)
    elif dim == 3:
        viz.plot_sphere(z, labels, ax=ax, title=title)
    else:
        viz.plot_embedding_2d(z, labels, ax=ax, method="pca", title=title)
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()


def _floor_line(ax, dim: int, n: int) -> None:
    """Vertical lines at L*_d and at the n-point bound: no run can sit left of them."""
    if dim < 2:
        return
    floor = uniform_sphere_uniformity(dim)
    ax.axvline(
        floor, color="gray", linestyle="--", linewidth=1, label=f"uniform on $S^{{{dim - 1}}}$: {floor:.3f}"
    )
    bound = uniformity_lower_bound(n, dim)
    ax.axvline(bound, color="black", linestyle=":", linewidth=1, label=f"bound for n = {n}: {bound:.3f}")


def plot_snapshot(run: Run, epoch: int | None = None):
    r"""Two panels at one epoch of ``run``: ẑ on the circle S¹ or the sphere S² coloured by class, and the
    run's path in the alignment–uniformity plane with that epoch marked and the floor of L_uniform drawn.

    Args:
        run: an ``Run`` with snapshots (2-D or 3-D embeddings).
        epoch: 0 (before training) … number of epochs; default the last.
    """
    where = "plot_snapshot"
    run = _check_run(run, where, snapshots=True)
    last = len(run.snapshots) - 1
    epoch = last if epoch is None else check_int(epoch, "epoch", where, minimum=0)
    if epoch > last:
        fail("epoch", where, f"<= {last} (the run's last epoch)", epoch)
    z = run.snapshots[epoch]  # (n, d) ẑ
    dim, record = z.shape[1], run.history[epoch]
    fig = plt.figure(figsize=(11, 4.6), layout="constrained")
    spec = fig.add_gridspec(1, 2)
    _draw_points(
        _embedding_axes(fig, spec[0], dim),
        z,
        run.labels,
        dim,
        f"{run.name}: epoch {epoch}, kNN on ẑ {record['knn_z']:.0%}",
    )
    plane = fig.add_subplot(spec[1])
    viz.plot_alignment_uniformity({run.name: run.trajectory()}, ax=plane, title="alignment–uniformity plane")
    plane.scatter(
        [record["uniformity"]],
        [record["alignment"]],
        s=160,
        facecolors="none",
        edgecolors="red",
        linewidths=2,
        zorder=4,
        label=f"epoch {epoch}",
    )
    _floor_line(plane, dim, z.shape[0])
    plane.legend(fontsize="small", loc="upper right")
    return fig


def plot_snapshots(run: Run, epochs=None):
    """Small multiples of ẑ (circle or sphere) at several epochs of ``run`` (default: 4 spread over it)."""
    where = "plot_snapshots"
    run = _check_run(run, where, snapshots=True)
    last = len(run.snapshots) - 1
    if epochs is None:
        epochs = sorted({round(last * k / 3) for k in range(4)})
    epochs = [check_int(e, "epochs", where, minimum=0) for e in epochs]
    if not epochs or max(epochs) > last:
        fail("epochs", where, f"a non-empty list of epochs in [0, {last}]", epochs)
    dim = run.snapshots[0].shape[1]
    fig = plt.figure(figsize=(3.3 * len(epochs), 3.6), layout="constrained")
    spec = fig.add_gridspec(1, len(epochs))
    for k, e in enumerate(epochs):
        record = run.history[e]
        _draw_points(
            _embedding_axes(fig, spec[k], dim),
            run.snapshots[e],
            run.labels,
            dim,
            f"epoch {e}\nalign {record['alignment']:.2f}, unif {record['uniformity']:.2f}",
        )
    fig.suptitle(f"{run.name}: ẑ of {run.snapshots[0].shape[0]} held-out digits, coloured by class")
    return fig


def snapshot_explorer(runs: Mapping[str, Run], *, run: str | None = None, epoch: int | None = None):
    """A run menu and an epoch slider over ``plot_snapshot``: watch the embeddings spread on the sphere."""
    where = "snapshot_explorer"
    runs = {name: _check_run(r, where, snapshots=True) for name, r in dict(runs).items()}
    if not runs:
        fail("runs", where, "a non-empty dict name → Run with snapshots", runs)
    names = list(runs)
    run = names[0] if run is None else run
    if run not in runs:
        fail("run", where, "one of " + ", ".join(map(repr, names)), repr(run))
    last = max(len(r.snapshots) for r in runs.values()) - 1
    epoch = len(runs[run].snapshots) - 1 if epoch is None else epoch
    style = {"description_width": "initial"}
    controls = {
        "name": widgets.Dropdown(options=names, value=run, description="run", style=style),
        "epoch": widgets.IntSlider(
            value=epoch, min=0, max=last, description="epoch", continuous_update=False, style=style
        ),
    }

    def draw(name, epoch):
        chosen = runs[name]
        return plot_snapshot(chosen, min(epoch, len(chosen.snapshots) - 1))

    return live_explorer(draw, controls)


# ----------------------------------------------------------------------- the weight λ of the generalized loss


def _check_weights(runs_by_weight, where: str) -> dict[float, Run]:
    if not isinstance(runs_by_weight, Mapping) or not runs_by_weight:
        fail("runs_by_weight", where, "a non-empty dict λ → Run", repr(runs_by_weight)[:80], TypeError)
    return {float(w): _check_run(r, where) for w, r in sorted(runs_by_weight.items())}


def plot_weight(runs_by_weight: Mapping[float, Run], weight: float):
    r"""Three panels for the generalized loss L = L_align + λ·L_dist (Chen, Luo & Li 2021) at one λ:
    the final ẑ of that run, every λ's final point in the alignment–uniformity plane, and the kNN accuracy
    on ẑ against λ.

    Args:
        runs_by_weight: dict λ → ``Run`` (same embedding dimension).
        weight: one of its keys.
    """
    where = "plot_weight"
    runs = _check_weights(runs_by_weight, where)
    weight = check_positive(weight, "weight", where, allow_zero=True)
    if weight not in runs:
        fail("weight", where, "one of " + ", ".join(f"{w:g}" for w in runs), weight)
    chosen = runs[weight]
    dim = chosen.z.shape[1]
    fig = plt.figure(figsize=(14, 4.3), layout="constrained")
    spec = fig.add_gridspec(1, 3)
    _draw_points(
        _embedding_axes(fig, spec[0], dim),
        chosen.z,
        chosen.labels,
        dim,
        f"λ = {weight:g}: final ẑ, kNN {chosen.final['knn_z']:.0%}",
    )
    plane = fig.add_subplot(spec[1])
    for w, r in runs.items():
        f = r.final
        plane.scatter(
            f["uniformity"],
            f["alignment"],
            s=140 if w == weight else 50,
            color="red" if w == weight else "tab:blue",
            zorder=3,
        )
        plane.annotate(
            f"λ={w:g}",
            (f["uniformity"], f["alignment"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize="small",
        )
    _floor_line(plane, dim, chosen.z.shape[0])
    plane.set(
        xlabel=r"uniformity $\mathcal{L}_{uniform}$",
        ylabel=r"alignment $\mathcal{L}_{align}$",
        title="final points, one per λ",
    )
    plane.legend(fontsize="small", loc="upper right")
    curve = fig.add_subplot(spec[2])
    weights = list(runs)
    curve.plot(weights, [runs[w].final["knn_z"] for w in weights], "o-", label="kNN accuracy on ẑ")
    curve.plot(
        weights,
        [runs[w].final["pair_distance"] / 2 for w in weights],
        "s--",
        label="mean ‖ẑ_i − ẑ_j‖² / 2 (spread)",
    )
    curve.axvline(weight, color="red", linewidth=1)
    curve.set(xlabel="weight λ of the distribution term", ylim=(0, 1.05), title="what λ buys")
    curve.legend(fontsize="small")
    return fig


def weight_explorer(runs_by_weight: Mapping[float, Run], weight: float = 1.0):
    """A λ slider over ``plot_weight``: from alignment only (λ = 0, collapse) to a strong spreading term."""
    runs = _check_weights(runs_by_weight, "weight_explorer")
    weight = float(weight) if float(weight) in runs else next(iter(runs))
    controls = {
        "weight": widgets.SelectionSlider(
            options=list(runs), value=weight, description="λ", continuous_update=False
        )
    }
    return live_explorer(lambda weight: plot_weight(runs, weight), controls)


# ----------------------------------------------------------------------------- do they predict the probe?


_ACCURACY_LABELS = {
    "knn_z": "kNN accuracy on ẑ",
    "knn_accuracy": "kNN accuracy on h",
    "linear_accuracy": "linear-probe accuracy on h",
}


def plot_probe_correlation(runs: Mapping[str, Run], *, accuracy: str = "knn_z"):
    """Final alignment and final uniformity of each run against its probe accuracy, with Spearman's ρ.

    ``accuracy`` is a history key ("knn_z": kNN on ẑ; "knn_accuracy": kNN on h) or "linear_accuracy".
    """
    where = "plot_probe_correlation"
    runs = {name: _check_run(r, where) for name, r in dict(runs).items()}
    if len(runs) < 2:
        fail("runs", where, "a dict of at least 2 runs", len(runs))

    def score(r: Run) -> float:
        return r.linear_accuracy if accuracy == "linear_accuracy" else r.final[accuracy]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    acc = [score(r) for r in runs.values()]
    for ax, key in zip(axes, ("alignment", "uniformity")):
        values = [r.final[key] for r in runs.values()]
        ax.scatter(values, acc, color="tab:blue")
        for name, v, a in zip(runs, values, acc):
            ax.annotate(name, (v, a), textcoords="offset points", xytext=(4, 4), fontsize="x-small")
        rho = rank_correlation(values, acc)
        ax.set(
            xlabel=f"final {key} (lower is better)",
            ylabel=_ACCURACY_LABELS.get(accuracy, accuracy),
            title=f"{key} vs accuracy: Spearman ρ = {rho:.2f}",
        )
    return fig
