"""Summarise ``sweep_projection_head.py``'s JSON lines: each notebook-11 check effect's min / median / sd.

    .venv/bin/python benchmarks/sweep_projection_head_summary.py benchmarks/results/sweep_11_*.jsonl

Per mode and per thread count, then over both thread counts; ``max margin`` is min − 2·sd (the largest
margin the rule of docs/check_margins.md allows: below the smallest effect by twice the seed-to-seed sd).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

from edu_contrast.lessons import projection_head as lesson

try:  # the summary all sweeps print
    from _sweeps import summarize
except ImportError:  # run from another folder
    from benchmarks._sweeps import summarize


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
    summarize(paths, effects)


if __name__ == "__main__":
    main(sys.argv[1:])
