"""Notebook 07's check "every encoder beats the random encoder" over seeds: one JSON line per seed.

Runs what notebook 07's cells 19–22 run, with the notebook's sizes, mode and seed, without the notebook:
SupCon, cross-entropy and SimCLR (``lessons.supcon.label_free_baseline``, the package's answer to the
``choose_baseline`` exercise) trained from the same initial encoder, and the untrained encoder with
calibrated BatchNorm; for each, the linear probe (``fit``'s) and the 10-labels-per-class probe on h.
``--summary`` prints, per mode and probe, each trained encoder's gain over the random encoder:
min / median / sd / min − 2·sd (the largest margin docs/check_margins.md's rule allows).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep_supcon.py --mode quick --seeds 0 1 2 \
        --out benchmarks/results/sweep_07_quick.jsonl
    .venv/bin/python benchmarks/sweep_supcon.py --summary benchmarks/results/sweep_07_*.jsonl
"""

from __future__ import annotations

import torch

from edu_contrast import measure, methods, models, probes, train
from edu_contrast.lessons import supcon as lesson

try:  # the command line and summary all sweeps share
    from _sweeps import sweep_main
except ImportError:  # run from another folder
    from benchmarks._sweeps import sweep_main

NAMES = ("SupCon", "cross-entropy", "SimCLR")


def runs(mode: str, seed: int) -> dict:
    """Cell 19's RUNS: the SupCon run, cross-entropy with its settings, SimCLR as the label-free baseline."""
    size = lesson.scale(mode)
    supcon = dict(
        loss="SupCon",
        temperature=0.1,
        epochs=size["epochs"],
        width=size["width"],
        batch_size=size["batch_size"],
        lr=3e-3,
        seed=seed,
    )
    return {
        "SupCon": supcon,
        "cross-entropy": {**supcon, "loss": "cross-entropy"},
        "SimCLR": lesson.label_free_baseline(supcon),
    }


def build(run: dict, channels: int, num_classes: int):
    """Cell 20's ``build``: the same initial encoder (the run's seed) under each loss."""
    torch.manual_seed(run["seed"])
    encoder = models.SmallConvNet(channels, width=run["width"])
    if run["loss"] == "SimCLR":
        return methods.SimCLR(encoder, temperature=run["temperature"])
    if run["loss"] == "SupCon":
        return methods.SupCon(encoder, temperature=run["temperature"])
    return methods.CrossEntropyBaseline(encoder, num_classes=num_classes, temperature=run["temperature"])


def few_label(model, train_set, test_set, seed: int) -> float:
    """Cell 22's ``few_label_accuracy``: a linear probe on h from 10 labelled images per class (5 draws)."""
    h_train, h_test = measure.embed(model, train_set.images), measure.embed(model, test_set.images)
    return probes.few_label_probe(h_train, train_set.labels, h_test, test_set.labels, per_class=10, seed=seed)


def measure_seed(mode: str, seed: int) -> dict:
    size = lesson.scale(mode)
    train_set, test_set = lesson.load_data(mode, seed=seed)
    classes, plan = len(train_set.classes), runs(mode, seed)
    fit_kwargs = dict(
        eval_data=test_set,
        progress=False,
        samples_per_epoch=size["samples_per_epoch"],
        knn_train_size=2000,
        knn_test_size=1000,
    )
    random_encoder = build(plan["SupCon"], train_set.channels, classes)
    measure.calibrate_batchnorm(random_encoder, train_set.images)
    row = {
        "mode": mode,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "linear": {
            "random": lesson.label_noise_scores(random_encoder, train_set, test_set)["linear_accuracy"]
        },
        "few_label": {"random": few_label(random_encoder, train_set, test_set, seed)},
    }
    for name in NAMES:
        run = plan[name]
        model = build(run, train_set.channels, classes)
        result = train.fit(
            model,
            train_set,
            epochs=run["epochs"],
            batch_size=run["batch_size"],
            lr=run["lr"],
            seed=run["seed"],
            **fit_kwargs,
        )
        row["linear"][name] = result["linear_accuracy"]
        row["few_label"][name] = few_label(model, train_set, test_set, seed)
    return row


def effects(line: dict) -> dict:
    """The effects of the two checks of cell 22 (and the linear-probe gain it no longer asserts)."""
    few, linear = line["few_label"], line["linear"]
    return {
        "few-label: weakest − random": min(few[n] for n in NAMES) - few["random"],
        "few-label: min(SupCon, CE) − SimCLR": min(few["SupCon"], few["cross-entropy"]) - few["SimCLR"],
        "linear: weakest − random (not asserted)": min(linear[n] for n in NAMES) - linear["random"],
    }


def main() -> None:
    sweep_main(__doc__.splitlines()[0], measure_seed, effects)


if __name__ == "__main__":
    main()
