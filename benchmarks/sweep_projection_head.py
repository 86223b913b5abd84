"""Notebook 11's check effects over seeds: the numbers its check cells assert on, one JSON line per seed.

Runs what notebook 11's cells run (``lessons.projection_head``: the random-encoder probe, the head-depth
study, the ablations and the batch-against-queue study) with the notebook's data, mode and seed, without
the notebook, and appends the raw numbers to ``--out``. ``edu_contrast.lessons.projection_head.check_effects``
turns a line into the effects ``docs/check_margins.md`` summarises.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep_projection_head.py --mode quick --seeds 0 1 2 \
        --threads 1 --out benchmarks/results/sweep_11.jsonl
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from edu_contrast.lessons import projection_head as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.utils import seed_everything


def run_seed(mode: str, seed: int) -> dict:
    """Every number notebook 11's check cells read, for one seed (the notebook's cells 4, 11 and 17)."""
    seed_everything(seed)  # as notebook_setup does
    train_set, test_set = lesson.load_data(mode, seed=seed)
    random_probe = lesson.random_encoder_probe(train_set, test_set, mode=mode, seed=seed)
    table = lesson.head_depth_study(train_set, test_set, depths=(0, 1, 2, 3), mode=mode, seed=seed)
    runs = {
        name: lesson.ablation_run(name, train_set, test_set, mode=mode, seed=seed)
        for name in lesson.ABLATIONS
    }
    rows = lesson.batch_queue_study(train_set, test_set, mode=mode, seed=seed)
    clear_cache()
    return {
        "random_probe": random_probe,
        "head_depth": {loss: {str(d): r for d, r in by_depth.items()} for loss, by_depth in table.items()},
        "ablations": {
            name: {"erank_z": run.erank_z, "erank_h": run.erank_h, "linear_accuracy": run.linear_accuracy}
            for name, run in runs.items()
        },
        "batch_queue": rows,
    }


def cpu_name() -> str:
    """The CPU's model name (``platform.processor()`` is empty on Linux)."""
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return names[0] if names else platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="quick", choices=("quick", "lab", "full"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--out", required=True, help="JSON-lines file, appended to")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        start = time.perf_counter()
        numbers = run_seed(args.mode, seed)
        seconds = round(time.perf_counter() - start, 1)
        line = {"mode": args.mode, "seed": seed, "threads": args.threads, "cpu": cpu_name(),
                "torch": torch.__version__, "seconds": seconds, **numbers}  # fmt: skip
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"mode {args.mode} seed {seed} threads {args.threads}: {line['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
