r"""Notebook 04 explorer: complete and dimensional collapse, measured by the spectrum and the effective rank.

For embeddings Z ∈ ℝ^{N×d} with singular values σ_1 ≥ σ_2 ≥ …,

    p_k = σ_k / Σ_l σ_l,    erank(Z) = exp(−Σ_k p_k log p_k)      (Roy & Vetterli 2007)

- complete collapse: every image lands on the same point, Z ≈ 1 cᵀ, one singular value left: erank → 1;
- dimensional collapse: the embeddings fill only k < d directions (Hua et al. 2021, Jing et al. 2022): the
  centred spectrum drops after σ_k, and erank ≈ k.

``collapse_explorer(run_for)`` toggles the switches of ``experiments.ABLATIONS`` (predictor, stop-gradient,
momentum, VICReg's variance and covariance terms, the projector, ...) and shows the chosen run against the
healthy recipe of its family; runs are trained on first use and cached for the session.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import torch

from edu_contrast import diagnostics, viz
from edu_contrast._validation import _fail, check_choice, check_int
from edu_contrast.experiments import ABLATIONS, Run, ablation_name
from edu_contrast.widgets._core import live_explorer

__all__ = [
    "synthetic_embeddings",
    "plot_collapse_kinds",
    "plot_runs",
    "summary_table",
    "plot_ablation",
    "collapse_explorer",
    "RUN_PANELS",
]

KINDS = ("healthy", "dimensional", "complete")


def synthetic_embeddings(
    kind: str, *, n: int = 512, dim: int = 64, rank: int = 4, noise: float = 0.001, seed: int = 0
) -> torch.Tensor:
    """Made-up embeddings ``(n, dim)`` that show each failure by construction.

    * "healthy": z ~ N(0, I_d), every direction used.
    * "dimensional": z = a Wᵀ + ε with a ~ N(0, I_rank) and W ``(dim, rank)``: only ``rank`` directions used.
    * "complete": z = c + ε, the same point c for every image (|c| = 1).

    ε ~ N(0, noise² I_d) keeps the matrices full rank, as real embeddings are. Keep it small: erank
    uses σ_k, not σ_k², so d − 1 tiny singular values of noise still add up (with noise = 0.02 the
    "complete" matrix already has erank ≈ 20).
    """
    where = "synthetic_embeddings"
    check_choice(kind, "kind", where, KINDS)
    n, dim = check_int(n, "n", where, minimum=2), check_int(dim, "dim", where)
    rank = check_int(rank, "rank", where)
    g = torch.Generator().manual_seed(seed)
    eps = noise * torch.randn(n, dim, generator=g, dtype=torch.float64)  # (n, d)
    if kind == "healthy":
        return torch.randn(n, dim, generator=g, dtype=torch.float64)
    if kind == "dimensional":
        basis = torch.randn(dim, rank, generator=g, dtype=torch.float64) / dim**0.5  # (d, rank)
        return torch.randn(n, rank, generator=g, dtype=torch.float64) @ basis.T + eps  # (n, d)
    point = torch.randn(1, dim, generator=g, dtype=torch.float64)
    return point / point.norm() + eps  # (n, d)


def plot_collapse_kinds(embeddings: Mapping[str, torch.Tensor]):
    """Left: the centred singular spectra σ_k (log scale, not normalised: a complete collapse shows as a
    spectrum that is small everywhere, only the noise around the one point); right: erank of each z."""
    where = "plot_collapse_kinds"
    if not isinstance(embeddings, Mapping) or not embeddings:
        _fail(
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
    ("effective_rank_z", "effective rank of z"),
    ("uniformity", r"uniformity $\mathcal{L}_{uniform}$ of ẑ"),
    ("std_z", "std of z per coordinate"),
)


def _check_runs(runs, where: str) -> dict[str, Run]:
    if not isinstance(runs, Mapping) or not runs:
        _fail("runs", where, "a non-empty dict name → experiments.Run", type(runs).__name__, TypeError)
    for name, run in runs.items():
        if not isinstance(run, Run):
            _fail("runs", where, "a dict of experiments.Run", f"{type(run).__name__} for {name!r}", TypeError)
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
    import pandas as pd

    rows = [_check_runs(runs, "summary_table")[name].summary() | {"run": name} for name in runs]
    return pd.DataFrame(rows).set_index("run").round(3)


def plot_ablation(run: Run, reference: Run):
    """``plot_runs`` of one ablation against its family's healthy ``reference`` run."""
    where = "plot_ablation"
    _check_runs({"run": run, "reference": reference}, where)
    if run is reference:
        return plot_runs({reference.name: reference})
    return plot_runs({reference.name: reference, run.name: run})


def _label(value) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def collapse_explorer(run_for: Callable[..., Run], *, family: str = "byol", **switches):
    """Toggles for the collapse grid over ``plot_ablation``.

    Args:
        run_for: ``run_for(family, **switches) -> Run``, e.g.
            ``lambda family, **s: experiments.run_ablation(family, train, test, epochs=8, **s)``
            (cached, so a setting trains once per session and then redraws instantly).
        family: the family shown first (a key of ``experiments.ABLATIONS``).
        **switches: its first switch setting (default: the healthy recipe).
    """
    import ipywidgets as widgets

    where = "collapse_explorer"
    if not callable(run_for):
        _fail(
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
                options=[(_label(v), v) for v in values],
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
