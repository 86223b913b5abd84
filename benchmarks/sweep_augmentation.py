"""Notebook 12's check effects over seeds: the numbers its check cells assert on, one JSON line per seed.

Runs what notebook 12's check cells run (``lessons.augmentation``), with the notebook's data, mode and seed,
without the notebook: cell 7's jitter comparison (the package's colour jitter against Kornia's at s = 0.5,
and against Kornia's at s = 1), cell 11's saturation step (the package's ``adjust_saturation``, the exercise's
fallback), cell 14's random-encoder probe and (s, s_min) grid, and cell 16's row means.
``--summary`` prints, per mode and thread count, each check's effect (> 0 when the check passes with margin
0, the margin is then subtracted by the check): min / median / sd / min − 2·sd (the largest margin
docs/check_margins.md's rule allows).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep_augmentation.py --mode quick --seeds 0 1 2 \
        --out benchmarks/results/sweep_12_quick.jsonl
    .venv/bin/python benchmarks/sweep_augmentation.py --summary benchmarks/results/sweep_12_*.jsonl
"""

from __future__ import annotations

import math

import torch

from edu_contrast.lessons import augmentation as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.utils import seed_everything

try:  # the command line and summary all sweeps share
    from _sweeps import sweep_main
except ImportError:  # run from another folder
    from benchmarks._sweeps import sweep_main

DRAWS = {"quick": 600, "lab": 2000, "full": 2000}  # cell 7's setup.pick
Z_CRITICAL, KS_ALPHA = 4.5, 1e-4  # cell 7's thresholds
BATCH = 1  # cell 7: one image per jitter call (each call draws one order of the steps for its images)


def jitter_numbers(image: torch.Tensor, draws: int, seed: int) -> dict:
    """Cell 7: max |z| and max D of augment vs kornia at s = 0.5, and of augment s = 0.5 vs kornia s = 1."""
    summaries = {
        name: lesson.channel_summaries(jitter, image, draws, seed=seed + k, batch=BATCH)
        for k, (name, jitter) in enumerate(lesson.color_jitters(0.5).items())
    }
    stronger = lesson.channel_summaries(
        lesson.color_jitters(1.0)["kornia"], image, draws, seed=seed + 2, batch=BATCH
    )
    same = lesson.jitter_agreement(summaries["augment"], summaries["kornia"])
    different = lesson.jitter_agreement(summaries["augment"], stronger)
    return {
        "same_z": float(abs(same["z"]).max()),
        "same_ks": float(same["ks"].max()),
        "different_z": float(abs(different["z"]).max()),
        "different_ks": float(different["ks"].max()),
        "ks_critical": math.sqrt(-0.5 * math.log(KS_ALPHA / 2)) * math.sqrt(2 / draws),
    }


def saturation_errors(train_data) -> dict:
    """Cell 11 with the package's step: how far f = 1 is from x, and f = 0 from gray (red vs green)."""
    x = train_data.images[:4].float() / 255
    row = lesson.adjust_saturation(x, torch.tensor([0.0, 0.5, 1.0, 2.0]))
    return {
        "f1_error": float((row[2] - x[2]).abs().max()),
        "f0_error": float((row[0][0] - row[0][1]).abs().max()),
    }


def measure_seed(mode: str, seed: int) -> dict:
    seed_everything(seed)  # as notebook_setup does
    settings = lesson.settings_for(mode)
    train_data, test_data = lesson.load_data(settings, seed=seed)
    row = {"mode": mode, "seed": seed, "threads": torch.get_num_threads()}
    row["jitter"] = jitter_numbers(train_data.images[0].float() / 255, DRAWS[mode], seed)
    row["saturation"] = saturation_errors(train_data)
    row["baseline"] = lesson.random_encoder_probe(train_data, test_data, settings, seed=seed)
    grid = lesson.probe_grid(train_data, test_data, settings, seed=seed, progress=None, bar=False)
    clear_cache()
    row["strengths"], row["min_scales"] = list(grid["strengths"]), list(grid["min_scales"])
    row["accuracy"] = grid["accuracy"].tolist()
    return row


def effects(line: dict) -> dict:
    """Each check's effect (> margin when it passes; the margin of a check is in its name)."""
    jitter, accuracy = line["jitter"], torch.tensor(line["accuracy"])
    rows = {s: float(accuracy[i].mean()) for i, s in enumerate(line["strengths"])}
    return {
        "agree: 4.5 − max|z| (> 0)": Z_CRITICAL - jitter["same_z"],
        "agree: KS crit − max D (> 0)": jitter["ks_critical"] - jitter["same_ks"],
        "catches: max D − KS crit (> 0)": jitter["different_ks"] - jitter["ks_critical"],
        "f: max error (allclose)": max(line["saturation"].values()),
        "best cell − random (> 0.03)": float(accuracy.max()) - line["baseline"],
        "row s=0.5 − row s=0 (> 0.02)": rows[0.5] - rows[0.0],
    }


def main() -> None:
    sweep_main(__doc__.splitlines()[0], measure_seed, effects)


if __name__ == "__main__":
    main()
