"""The summary every ``sweep_*.py`` prints: each check effect's min / median / sd over a sweep's seeds.

``summarize(paths, effects)`` reads the JSON lines (one seed each, with ``mode``, ``threads``, ``seed`` and
``seconds``) and prints, per mode and thread count and then over all thread counts, each effect's min /
median / max / sd and min − 2·sd: the largest margin the rule of docs/check_margins.md allows (below the
smallest effect by twice the seed-to-seed sd).
"""

from __future__ import annotations

import json
import statistics


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
