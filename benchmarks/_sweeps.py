"""The summary every ``sweep_*.py`` prints: each check effect's min / median / sd over a sweep's seeds.

``summarize(paths, effects)`` reads the JSON lines (one seed each, with ``mode``, ``threads``, ``seed`` and
``seconds``) and prints, per mode and thread count and then over all thread counts, each effect's min /
median / max / sd and min − 2·sd: the largest margin the rule of docs/check_margins.md allows (below the
smallest effect by twice the seed-to-seed sd).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def summarize(paths, effects) -> None:
    """Print the summary of the sweep lines in ``paths``; ``effects(line)`` gives ``{name: value}``."""
    lines = [json.loads(text) for path in paths for text in open(path) if text.strip()]
    groups: dict = {}
    for line in lines:
        for key in ((line["mode"], line["threads"]), (line["mode"], "all")):
            groups.setdefault(key, []).append(line)
    for (mode, threads), group in sorted(groups.items(), key=str):
        seeds = sorted({line["seed"] for line in group})
        seconds = [line["seconds"] for line in group]
        runs = f"{len(group)} runs, seeds {seeds}, {min(seconds)}–{max(seconds)} s"
        print(f"\n## {mode}, threads {threads}: {runs}")
        values: dict = {}
        for line in group:
            for name, value in effects(line).items():
                values.setdefault(name, []).append(value)
        for name, vs in values.items():
            sd = statistics.stdev(vs) if len(vs) > 1 else float("nan")
            print(f"{name:38s} min {min(vs):+.4g}  median {statistics.median(vs):+.4g}  max {max(vs):+.4g}  "
                  f"sd {sd:.3g}  min − 2·sd {min(vs) - 2 * sd:+.4g}  n {len(vs)}")  # fmt: skip


def sweep_main(description: str, measure_seed, effects) -> None:
    """The command line every ``sweep_*.py`` shares: ``--mode``, ``--seeds``, ``--out`` (JSON lines appended,
    one per seed, with its ``seconds``) or ``--summary FILES`` (``summarize`` with ``effects``).
    ``measure_seed(mode, seed)`` gives one seed's line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mode", default="quick", choices=("quick", "lab"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--summary", type=Path, nargs="+")
    args = parser.parse_args()
    if args.summary:
        return summarize(args.summary, effects)
    for seed in args.seeds:
        start = time.perf_counter()
        row = {**measure_seed(args.mode, seed), "seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(row), flush=True)
        if args.out:
            with args.out.open("a") as f:
                f.write(json.dumps(row) + "\n")
