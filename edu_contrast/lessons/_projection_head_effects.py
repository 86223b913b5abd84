"""What notebook 11's check cells assert: named effects, each > 0 when the taught effect is there, and
``check_effect``, the one asserting helper the notebooks' check cells call; ``probe_side_outcome`` answers
section 1's predict-then-measure question (``lessons.projection_head`` re-exports them all).

The margins each cell passes follow the seed sweep of ``docs/check_margins.md``.
"""

from __future__ import annotations

from edu_contrast.lessons._checks import check_effect

__all__ = [
    "head_depth_effects",
    "ablation_effects",
    "batch_queue_effects_for",
    "check_effect",
    "PROBE_SIDES",
    "probe_side_outcome",
]

PROBE_SIDES = ("h", "z")  # the answers of section 1's prediction: which side of the head probes better


def head_depth_effects(table: dict, random_probe: dict) -> dict:
    """Section 1's effects, each > 0 when the taught effect is there (probe accuracies, h unless named).

    * "trained − random": best probe on h with a non-linear head (L ≥ 2) − the random encoder's;
    * "spread: no head − deepest": spread_0 − spread_L of the probe on h (the loss matters more without g);
    * "h − z (L ≥ 2)": the mean over losses and depths L ≥ 2 of probe(h) − probe(z).
    """
    depths = list(next(iter(table.values())))
    deep = [d for d in depths if d >= 2]
    spread = {
        d: max(r[d]["h"] for r in table.values()) - min(r[d]["h"] for r in table.values()) for d in depths
    }
    gaps = [table[loss][d]["h"] - table[loss][d]["z"] for loss in table for d in deep]
    return {
        "trained − random": max(table[loss][d]["h"] for loss in table for d in deep) - random_probe["h"],
        "spread: no head − deepest": spread[0] - spread[max(spread)],
        "h − z (L ≥ 2)": sum(gaps) / len(gaps),
    }


def ablation_effects(runs: dict) -> dict:
    """Section 2's effects: how much erank after the last epoch each ablation loses against its reference.

    ``runs`` maps ``ABLATIONS`` names to ``AblationRun``s (anything with ``erank_z`` and ``erank_h`` lists).
    """
    last_z = {name: run.erank_z[-1] for name, run in runs.items()}
    return {
        "erank z: BYOL − no stop-gradient": last_z["BYOL"] - last_z["BYOL, no stop-gradient"],
        "erank h: SimCLR − no head": runs["SimCLR"].erank_h[-1] - runs["SimCLR, no head"].erank_h[-1],
        "erank z: MoCo − β = 0": last_z["MoCo"] - last_z["MoCo, no momentum (β = 0)"],
        "erank z: BYOL − no predictor": last_z["BYOL"] - last_z["BYOL, no predictor"],
    }


def probe_side_outcome(effects: dict) -> tuple[str, str]:
    """Section 1's prediction, measured: which side of a non-linear head (L ≥ 2) a linear probe reads better.

    ``effects`` are ``head_depth_effects``'s; the answer is "h" when the mean probe(h) − probe(z) over the
    losses and depths L ≥ 2 is > 0, else "z". Returns (answer, explanation), the explanation true either way.
    """
    gap = effects["h − z (L ≥ 2)"]
    answer = "h" if gap > 0 else "z"
    over = "mean over the losses and heads with L ≥ 2"
    if answer == "h":
        lead = f"The probe on h beat the probe on z by {gap:.3f} ({over})."
    else:
        lead = (
            f"In this run the probe on z beat the probe on h by {-gap:.3f} ({over}), unlike every seed of "
            "the sweep in docs/check_margins.md: the check below stops here."
        )
    why = (
        " The head g is trained to give the loss what it asks of z: two views of one image that agree (and "
        "for the SWD losses a prior's shape). What the augmentations change, such as brightness or which "
        "part of the garment is in view, the head is free to discard even where it tells classes apart, and "
        "a linear probe on z cannot get it back; h sits before that specialisation and keeps more of it. "
        "SimCLR (Chen et al. 2020, Sec. 4.2) found h better than z for linear evaluation by more than 10 "
        "points on ImageNet."
    )
    return answer, lead + why


def batch_queue_effects_for(rows: dict, size: dict) -> dict:
    """Section 3's effects, per probe ("linear", "knn"), from ``batch_queue_study``'s rows at the sizes
    ``size`` (``projection_head.scale(mode)``, which ``projection_head.batch_queue_effects`` passes).

    * "small − large batch": SimCLR at the smallest N − SimCLR at the largest N (equal epochs);
    * "queue − no queue": MoCo at N = ``moco_batch`` with the largest M − the same N with M = 0 (β = 0.99);
    * "β = 0.99 − β = 0": MoCo with the largest M, momentum against none.
    """
    simclr = [f"SimCLR N={n}" for n in (min(size["simclr_batches"]), max(size["simclr_batches"]))]
    moco = f"MoCo N={size['moco_batch']} M="
    queue = max(size["queues"])
    pairs = {
        "small − large batch": simclr,
        "queue − no queue": (f"{moco}{queue} β=0.99", f"{moco}0 β=0.99"),
        "β = 0.99 − β = 0": (f"{moco}{queue} β=0.99", f"{moco}{queue} β=0"),
    }
    return {
        f"{probe}: {effect}": rows[better][f"{probe}_accuracy"] - rows[worse][f"{probe}_accuracy"]
        for effect, (better, worse) in pairs.items()
        for probe in ("linear", "knn")
    }
