"""Notebook 14's check effects over seeds: the runs its cells 12 and 16 make, one JSON line per seed.

Runs what notebook 14's cells run, with the notebook's data, mode and seed, without the notebook: the
floor (``lessons.class_collapse.random_encoder_scores``, the package's answer to the ``choose_floor``
exercise), ``collapse_study`` (SimCLR, SupCon and SupCon + α·cNCE for the mode's α grid, trained on the
coarse labels) and every run's ``collapse_scores``. ``--summary`` prints, per mode, the effects of
``collapse_effects`` (the three asserted checks and the two printed ones): min / median / sd / min − 2·sd
(the largest margin docs/check_margins.md's rule allows).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep_class_collapse.py --mode quick --seeds 0 1 2 \
        --out benchmarks/results/sweep_14_quick.jsonl
    .venv/bin/python benchmarks/sweep_class_collapse.py --summary benchmarks/results/sweep_14_*.jsonl
"""

from __future__ import annotations

import torch

from edu_contrast.lessons import class_collapse as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.utils import seed_everything

try:  # the command line and summary all sweeps share
    from _sweeps import sweep_main
except ImportError:  # run from another folder
    from benchmarks._sweeps import sweep_main


def measure_seed(mode: str, seed: int) -> dict:
    """Cells 2 and 12: the data, the floor (random encoder) and every run of the study, scored."""
    seed_everything(seed)  # as notebook_setup does
    datasets = lesson.load_data(mode, seed=seed)
    random_scores = lesson.random_encoder_scores(datasets, mode=mode, seed=seed)
    study = lesson.collapse_study(datasets, mode=mode, seed=seed)
    clear_cache()
    return {
        "mode": mode,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "scores": {"random encoder": random_scores, **study},
    }


def effects(line: dict) -> dict:
    """Cell 16's effects (``lesson.collapse_effects``), and the best α of the grid for fine kNN on z."""
    scores = dict(line["scores"])
    random_scores = scores.pop("random encoder")
    found = lesson.collapse_effects(scores, random_scores)
    best = max(v["fine_knn_z"] for k, v in scores.items() if k not in ("SimCLR", "SupCon"))
    return {
        "collapse (asserted)": found["collapse"],
        "spread_regained (asserted)": found["spread_regained"],
        "coarse_kept (asserted)": found["coarse_kept"],
        "fine_regained (printed)": found["fine_regained"],
        "fine_regained, best α (text)": best - scores["SupCon"]["fine_knn_z"],
        "fine_lost (printed)": found["fine_lost"],
        "SupCon spread (text)": scores["SupCon"]["spread"],
        "random spread (text)": random_scores["spread"],
    }


def main() -> None:
    sweep_main(__doc__.splitlines()[0], measure_seed, effects)


if __name__ == "__main__":
    main()
