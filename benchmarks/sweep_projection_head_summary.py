"""Summarise ``sweep_projection_head.py``'s JSON lines: each notebook-11 check effect's min / median / sd.

    .venv/bin/python benchmarks/sweep_projection_head_summary.py benchmarks/results/sweep_11_*.jsonl

Per mode and per thread count, then over both thread counts; ``max margin`` is min − 2·sd (the largest
margin the rule of docs/check_margins.md allows: below the smallest effect by twice the seed-to-seed sd).
"""

from __future__ import annotations

import json
import statistics
import sys
from types import SimpleNamespace

from edu_contrast.lessons import projection_head as lesson


def effects(line: dict) -> dict:
    """Every effect the notebook's check cells can assert, from one sweep line (one seed)."""
    table = {loss: {int(d): r for d, r in by.items()} for loss, by in line["head_depth"].items()}
    runs = {name: SimpleNamespace(**run) for name, run in line["ablations"].items()}
    return {
        **lesson.head_depth_effects(table, line["random_probe"]),
        **lesson.ablation_effects(runs),
        **lesson.batch_queue_effects(line["batch_queue"], line["mode"]),
    }


def main(paths: list[str]) -> None:
    lines = [json.loads(text) for path in paths for text in open(path) if text.strip()]
    groups: dict = {}
    for line in lines:
        for key in ((line["mode"], line["threads"]), (line["mode"], "all")):
            groups.setdefault(key, []).append(line)
    for (mode, threads), group in sorted(groups.items(), key=str):
        seeds = sorted({line["seed"] for line in group})
        seconds = [line["seconds"] for line in group]
        print(
            f"\n## {mode}, threads {threads}: {len(group)} runs, seeds {seeds}, "
            f"{min(seconds)}–{max(seconds)} s"
        )
        values: dict = {}
        for line in group:
            for name, value in effects(line).items():
                values.setdefault(name, []).append(value)
        for name, vs in values.items():
            sd = statistics.stdev(vs) if len(vs) > 1 else float("nan")
            print(f"{name:36s} min {min(vs):+.3f}  median {statistics.median(vs):+.3f}  sd {sd:.3f}  "
                  f"max margin {min(vs) - 2 * sd:+.3f}  n {len(vs)}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
