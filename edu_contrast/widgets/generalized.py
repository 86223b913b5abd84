r"""Notebook 08 explorers: alignment + distribution matching to a prior (Chen, Luo & Li 2021).

    L = L_pos + λ · L_dist,     L_dist = log-sum-exp ("lse", hypersphere) or SWD to a prior ("swd")

* ``plot_toy_run`` / ``toy_figure`` / ``generalized_explorer``: the live 2-D toy of
  ``lessons.generalized.train_toy``: pick a prior, a distribution term, λ and τ, and see the learned
  z against samples of the prior, and one random 1-D projection of both;
* ``plot_projection_histograms``: Figure A.1 of the paper: histograms of random 1-D projections of the
  learned representations, before and after training, against the prior's projections;
* ``plot_weight_temperature``: the (λ, τ) grid of the toy with the lines λτ = const.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch

from edu_contrast import losses
from edu_contrast._validation import check_choice, check_int, check_positive, fail
from edu_contrast.lessons.generalized import (
    DISTRIBUTIONS,
    PRIORS,
    project_on_directions,
    random_directions,
    sphere_projection_density,
    swd_to_prior,
    train_toy,
)
from edu_contrast.widgets._core import live_explorer, log_slider

__all__ = [
    "plot_toy_run",
    "toy_figure",
    "generalized_explorer",
    "plot_projection_histograms",
    "plot_weight_temperature",
]


def _prior_outline(ax, prior: str) -> None:
    """The 2-D prior's support: the unit circle, the square [−1, 1]², or the normal's 1σ and 2σ circles."""
    angle = np.linspace(0, 2 * np.pi, 200)
    if prior == "hypersphere":
        ax.plot(np.cos(angle), np.sin(angle), color="black", linewidth=1)
    elif prior == "hypercube":
        ax.plot([-1, 1, 1, -1, -1], [-1, -1, 1, 1, -1], color="black", linewidth=1)
    else:
        for radius in (1, 2):
            ax.plot(radius * np.cos(angle), radius * np.sin(angle), color="black", linewidth=1, linestyle=":")


def plot_toy_run(run: Mapping, prior: str, *, title: str = ""):
    """Left: the toy's z (ẑ for the hypersphere) by blob over prior samples; right: one 1-D projection.

    Args:
        run: a ``train_toy`` result (``z`` ``(n, 2)``, ``labels``, ``alignment``, ``uniformity``, ``swd``).
        prior: the prior it was trained towards.
    """
    where = "plot_toy_run"
    check_choice(prior, "prior", where, PRIORS)
    if not isinstance(run, Mapping) or "z" not in run or "labels" not in run:
        fail("run", where, "a dict from lessons.generalized.train_toy", type(run).__name__, TypeError)
    z = run["z"].detach().double()
    if z.dim() != 2 or z.shape[1] != 2:
        fail("run", where, "a toy run with 2-D embeddings z of shape (n, 2)", f"z of shape {tuple(z.shape)}")
    shown = torch.nn.functional.normalize(z, dim=1) if prior == "hypersphere" else z  # what the loss matches
    samples = losses.sample_prior(
        prior, len(z), 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4), layout="constrained")
    left.scatter(*samples.T.numpy(), s=6, color="lightgray", label="prior samples")
    left.scatter(
        *shown.T.numpy(), s=8, c=run["labels"].numpy(), cmap="tab10", vmin=0, vmax=9, label="learned z"
    )
    _prior_outline(left, prior)
    left.set_aspect("equal")
    left.set(title=title or f"{prior}: learned z vs prior", xlabel="$z_1$", ylabel="$z_2$")
    left.legend(fontsize="x-small", loc="upper right")
    direction = random_directions(2, 1, seed=2)  # (2, 1)
    z_line = project_on_directions(z, direction, prior=prior)[:, 0].numpy()  # (n,)
    prior_line = project_on_directions(samples, direction, prior=prior)[:, 0].numpy()  # (n,)
    bins = np.linspace(min(z_line.min(), prior_line.min()), max(z_line.max(), prior_line.max()), 31)
    right.hist(prior_line, bins=bins, density=True, color="lightgray", label="prior")
    right.hist(
        z_line, bins=bins, density=True, histtype="step", linewidth=2, color="tab:blue", label="learned"
    )
    right.set(
        xlabel="projection on a random direction w",
        ylabel="density",
        title=f"SWD {run['swd']:.4f}   alignment {run['alignment']:.3f}   uniformity {run['uniformity']:.2f}",
    )
    right.legend(fontsize="small")
    return fig


def toy_figure(
    prior: str = "hypersphere",
    distribution: str = "swd",
    weight: float = 1.0,
    temperature: float = 0.5,
    *,
    steps: int = 200,
    seed: int = 0,
):
    """Train the 2-D toy (``train_toy``) with these settings and draw it (``plot_toy_run``).

    The "lse" term only matches the hypersphere: with another prior the figure says so instead of training.
    """
    where = "toy_figure"
    check_choice(prior, "prior", where, PRIORS)
    check_choice(distribution, "distribution", where, DISTRIBUTIONS)
    weight = check_positive(weight, "weight", where, allow_zero=True)
    temperature = check_positive(temperature, "temperature", where)
    if distribution == "lse" and prior != "hypersphere":
        fig, ax = plt.subplots(figsize=(9.5, 4))
        ax.text(
            0.5,
            0.5,
            "The log-sum-exp term only matches the uniform hypersphere.\n"
            "Pick 'swd' to match the hypercube or the normal prior.",
            ha="center",
            va="center",
        )
        ax.set_axis_off()
        return fig
    run = train_toy(
        prior, distribution=distribution, weight=weight, temperature=temperature, steps=steps, seed=seed
    )
    knob = f"λ = {weight:g}" + (f", τ = {temperature:g}" if distribution == "lse" else "")
    return plot_toy_run(run, prior, title=f"{distribution} to the {prior}, {knob}")


def generalized_explorer(
    prior: str = "hypercube", distribution: str = "swd", weight: float = 1.0, temperature: float = 0.5
):
    """Prior picker, distribution term, λ and τ over ``toy_figure`` (each change trains the toy, ~1 s)."""
    style = {"description_width": "initial"}
    controls = {
        "prior": widgets.Dropdown(options=list(PRIORS), value=prior, description="prior", style=style),
        "distribution": widgets.ToggleButtons(
            options=list(DISTRIBUTIONS), value=distribution, description="L_dist", style=style
        ),
        "weight": log_slider(weight, -2, 2, "λ"),
        "temperature": log_slider(temperature, -2, 0, "τ (lse)"),
    }
    return live_explorer(toy_figure, controls)


def plot_projection_histograms(
    runs: Mapping[str, Mapping], *, num_directions: int = 3, seed: int = 0, bins: int = 30
):
    r"""Figure A.1 of Chen, Luo & Li 2021: random 1-D projections of the representations against the prior.

    One row per run, one column per random direction w_k: the histogram of z·w_k (ẑ·w_k for the
    hypersphere) before and after training, and of the prior's own samples projected on w_k; for the
    hypersphere also the exact density c_d (1 − t²)^{(d−3)/2}. Titles give ``swd_to_prior`` before → after.

    Args:
        runs: name → {"prior": str, "before": z ``(N, d)``, "after": z ``(N, d)``}.
        num_directions: K columns.  seed: the directions and the prior samples.
    """
    where = "plot_projection_histograms"
    if not isinstance(runs, Mapping) or not runs:
        fail(
            "runs",
            where,
            "a non-empty dict name → {'prior', 'before', 'after'}",
            type(runs).__name__,
            TypeError,
        )
    num_directions = check_int(num_directions, "num_directions", where)
    fig, axes = plt.subplots(
        len(runs),
        num_directions,
        figsize=(3.3 * num_directions, 2.6 * len(runs)),
        layout="constrained",
        squeeze=False,
    )
    for row, (name, run) in zip(axes, runs.items()):
        if not isinstance(run, Mapping) or not {"prior", "before", "after"} <= set(run):
            fail(
                "runs",
                where,
                "entries with keys 'prior', 'before', 'after'",
                f"{name!r}: {type(run).__name__}",
            )
        check_choice(run["prior"], "prior", where, PRIORS)
        _projection_row(row, name, run, seed=seed, bins=bins)
    return fig


def _projection_row(row, name: str, run: Mapping, *, seed: int, bins: int) -> None:
    """One row of Figure A.1: for each direction w_k (one axis each) the three histograms of z·w_k."""
    prior, before, after = run["prior"], run["before"].float(), run["after"].float()
    n, dim = after.shape
    directions = random_directions(dim, len(row), seed=seed)  # (d, K)
    samples = losses.sample_prior(prior, n, dim, generator=torch.Generator().manual_seed(seed + 1))  # (N, d)
    projected = {
        key: project_on_directions(z, directions, prior=prior).numpy()  # (N, K) each
        for key, z in (("before", before), ("after", after), ("prior", samples))
    }
    span = np.abs(np.concatenate([projected["prior"], projected["after"]])).max()
    edges = np.linspace(-span, span, bins + 1)
    step = {"bins": edges, "density": True, "histtype": "step"}
    for k, ax in enumerate(row):
        ax.hist(projected["prior"][:, k], bins=edges, density=True, color="lightgray", label=f"{prior} prior")
        ax.hist(
            np.clip(projected["before"][:, k], -span, span),
            **step,
            color="tab:orange",
            label="before training",
        )
        ax.hist(projected["after"][:, k], **step, linewidth=2, color="tab:blue", label="after training")
        if prior == "hypersphere":
            t = np.linspace(-span, span, 200)
            density = sphere_projection_density(dim, t).numpy()
            ax.plot(t, density, color="black", linewidth=1, label="exact density")
        ax.set(xlabel=f"projection on w_{k + 1}", yticks=[])
    swd = f"SWD {swd_to_prior(before, prior):.4f} → {swd_to_prior(after, prior):.4f}"
    row[0].set_title(f"{name}: {swd}", loc="left", fontsize="medium")
    row[-1].legend(fontsize="x-small")


def plot_weight_temperature(grid: Mapping):
    r"""Heat maps of the toy's alignment and uniformity over (λ, τ), with the lines λτ = const dashed.

    Args:
        grid: the dict of ``lessons.generalized.weight_temperature_grid``.
    """
    where = "plot_weight_temperature"
    keys = ("weights", "temperatures", "alignment", "uniformity")
    if not isinstance(grid, Mapping) or not set(keys) <= set(grid):
        fail(
            "grid",
            where,
            f"a dict with keys {keys} (weight_temperature_grid)",
            type(grid).__name__,
            TypeError,
        )
    weights, temperatures = grid["weights"].numpy(), grid["temperatures"].numpy()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
    log_w, log_t = np.log2(weights), np.log2(temperatures)
    for ax, key, cmap in zip(axes, ("alignment", "uniformity"), ("viridis", "viridis_r")):
        values = grid[key].numpy()
        image = ax.pcolormesh(log_w, log_t, values, cmap=cmap, shading="nearest")
        for i in range(len(temperatures)):
            for j in range(len(weights)):
                ax.text(
                    log_w[j],
                    log_t[i],
                    f"{values[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0, "pad": 1},
                )
        products, counts = np.unique(
            np.round(np.log2(np.outer(temperatures, weights)), 6), return_counts=True
        )
        for product in products[counts >= 2]:  # the diagonals through two or more cells
            ax.plot(
                log_w, product - log_w, color="white", linestyle="--", linewidth=0.8
            )  # log τ = log(λτ) − log λ
        ax.set(
            xticks=log_w,
            xticklabels=[f"{w:g}" for w in weights],
            yticks=log_t,
            yticklabels=[f"{t:g}" for t in temperatures],
            xlim=(log_w[0] - 0.5, log_w[-1] + 0.5),
            ylim=(log_t[0] - 0.5, log_t[-1] + 0.5),
            xlabel="weight λ",
            ylabel="temperature τ",
            title=f"{key} ({'lower: views closer' if key == 'alignment' else 'lower: more uniform'})",
        )
        fig.colorbar(image, ax=ax)
    return fig
