r"""Notebook 14 explorers: what SupCon's class collapse costs, and what α·L_cNCE buys back.

The runs come from ``lessons.class_collapse.collapse_study`` (trained once); these functions only draw:

* ``plot_alpha_effect``: one metric against the weight α of the class-conditional term (SupCon is
  α = 0), with SimCLR and the random encoder as lines, the chosen α marked; beside it, the chosen
  run's metrics next to SupCon's and SimCLR's;
* ``alpha_explorer``: a slider over the trained α values and a metric picker, over that figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import check_choice, fail
from edu_contrast.lessons import class_collapse as lesson
from edu_contrast.widgets._core import live_explorer

__all__ = ["METRIC_NAMES", "alpha_values", "plot_alpha_effect", "alpha_explorer"]

METRIC_NAMES = {
    "fine_knn_z": "fine kNN accuracy on z",
    "fine_accuracy_z": "fine linear probe on z",
    "fine_accuracy": "fine linear probe on h",
    "coarse_accuracy": "coarse linear probe on h",
    "spread": "within-class spread of z (coarse)",
}
BARS = ("coarse_accuracy", "fine_knn_z", "spread")  # the three numbers of the story, side by side


def alpha_values(study: Mapping) -> list[float]:
    """The trained α values of a ``collapse_study`` (0 = SupCon), ascending."""
    if not isinstance(study, Mapping) or "SupCon" not in study or "SimCLR" not in study:
        got = list(study) if isinstance(study, Mapping) else type(study).__name__
        fail("study", "alpha_values", "a collapse_study result with 'SimCLR' and 'SupCon' runs", got)
    return lesson.alpha_curve(study, "spread")[0]


def _run_at(study: Mapping, alpha: float) -> dict:
    return study["SupCon"] if alpha == 0 else study[f"α = {alpha:g}"]


def plot_alpha_effect(
    study: Mapping, alpha: float, *, metric: str = "fine_knn_z", random: Mapping | None = None
):
    """Left: ``metric`` against α (SimCLR dashed, the random encoder dotted, ``alpha`` marked). Right: the
    run at ``alpha`` beside SupCon and SimCLR on coarse accuracy, fine kNN accuracy on z and spread."""
    alphas = alpha_values(study)
    check_choice(metric, "metric", "plot_alpha_effect", METRIC_NAMES)
    if alpha not in alphas:
        fail("alpha", "plot_alpha_effect", f"one of the trained values {alphas}", alpha)
    fig, (curve, bars) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    values = lesson.alpha_curve(study, metric)[1]
    curve.plot(alphas, values, "o-", color="C2", label="SupCon + α·cNCE")
    curve.plot([alpha], [_run_at(study, alpha)[metric]], "o", color="C3", markersize=11, zorder=3,
               label=f"α = {alpha:g}")  # fmt: skip
    curve.axhline(study["SimCLR"][metric], color="C0", ls="--", label="SimCLR (no labels)")
    if random is not None:
        curve.axhline(random[metric], color="grey", ls=":", label="random encoder")
    curve.set(xlabel="α (weight of the class-conditional term; 0 = SupCon)", ylabel=METRIC_NAMES[metric],
              title=METRIC_NAMES[metric])  # fmt: skip
    curve.legend(fontsize=8)
    runs = {"SimCLR": study["SimCLR"], "SupCon": study["SupCon"], f"α = {alpha:g}": _run_at(study, alpha)}
    x = np.arange(len(BARS))
    for k, (name, scores) in enumerate(runs.items()):
        bars.bar(
            x + (k - 1) * 0.27, [scores[m] for m in BARS], width=0.27, label=name, color=f"C{[0, 1, 3][k]}"
        )
    bars.set_xticks(x, [METRIC_NAMES[m].replace(" (coarse)", "") for m in BARS], fontsize=8)
    bars.set(ylim=(0, 1.05), title=f"SupCon + {alpha:g}·cNCE against SupCon and SimCLR")
    bars.legend(fontsize=8)
    return fig


def alpha_explorer(study: Mapping, *, random: Mapping | None = None, metric: str = "fine_knn_z"):
    """A slider over the trained α values and a metric picker, over ``plot_alpha_effect`` (draws only)."""
    alphas = alpha_values(study)
    style = {"description_width": "initial"}
    controls = {
        "alpha": widgets.SelectionSlider(options=[(f"{a:g}", a) for a in alphas], value=alphas[-1],
                                         description="α", continuous_update=False, style=style),
        "metric": widgets.Dropdown(options=[(v, k) for k, v in METRIC_NAMES.items()], value=metric,
                                   description="left panel", style=style),
    }  # fmt: skip
    return live_explorer(
        lambda alpha, metric: plot_alpha_effect(study, alpha, metric=metric, random=random), controls
    )
