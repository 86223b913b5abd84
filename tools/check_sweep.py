"""Summarize a seed sweep of the notebooks' checks, and write what it measured into docs/check_margins.md.

The sweep is `notebook_runner --record-checks FILE` over seeds, modes and thread counts (each check appends
its slack: how far its comparison held, effect − margin in the check's own units; see
edu_contrast/_check_record.py). Per check and mode this prints the runs, the failures and the slack's min /
median / sd over the runs (a check reached several times in one run, e.g. in a loop, counts its smallest
slack) and min − 2·sd: the rule of docs/check_margins.md holds when it is ≥ 0 (the smallest effect exceeds
the margin by at least twice the seed-to-seed sd).

    .venv/bin/python tools/check_sweep.py build/sweep/*.jsonl                 # the summary
    .venv/bin/python tools/check_sweep.py build/sweep/*.jsonl --write --measured "quick: …"  # the doc's rows

``--write`` fills the effect and measured columns of the rows that say "not recorded" or "not swept" (and
of ``--ids``), leaving rows written from a dedicated sweep (benchmarks/sweep_*.py) as they are.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_margins  # noqa: E402  (tools/ is not a package)

UNMEASURED = ("not recorded", "not swept")


def runs_by_check(paths) -> dict:
    """(id, mode) → [{"seed", "threads", "slack" (None: no numbers compared), "passed"}, ...], one per run."""
    runs: dict = {}
    for path in paths:
        for text in Path(path).read_text().splitlines():
            if not text.strip():
                continue
            line = json.loads(text)
            key = (line["id"], line["mode"], line["notebook"], line["seed"], line["threads"])
            run = runs.setdefault(key, {"seed": line["seed"], "threads": line["threads"], "slack": [],
                                        "passed": True})  # fmt: skip
            run["slack"].append(line["slack"])
            run["passed"] = run["passed"] and bool(line["passed"])
    by_check: dict = {}
    for (check_id, mode, *_), run in sorted(runs.items(), key=str):
        slacks = run["slack"]
        slack = None if None in slacks else min(slacks)
        by_check.setdefault((check_id, mode), []).append({**run, "slack": slack})
    return by_check


def stats(runs: list[dict]) -> dict:
    """Runs, failures, seeds and thread counts, and the slack's min / median / sd / min − 2·sd."""
    slacks = [run["slack"] for run in runs]
    out = {
        "runs": len(runs),
        "failed": sum(not run["passed"] for run in runs),
        "seeds": sorted({run["seed"] for run in runs}),
        "threads": sorted({run["threads"] for run in runs}),
    }
    if None in slacks:
        return out
    sd = statistics.stdev(slacks) if len(slacks) > 1 else float("nan")
    return {**out, "min": min(slacks), "median": statistics.median(slacks), "sd": sd,
            "min_2sd": min(slacks) - 2 * sd}  # fmt: skip


def describe(mode: str, s: dict) -> str:
    """One mode's measurement as the doc's effect column says it."""
    failed = f", FAILED {s['failed']} of {s['runs']}" if s["failed"] else ""
    if "min" not in s:
        return f"{mode}: passed {s['runs'] - s['failed']} of {s['runs']} runs (compares no numbers){failed}"
    return (
        f"{mode}: slack {s['min']:.3g} / {s['median']:.3g} (sd {s['sd']:.2g}, min − 2·sd {s['min_2sd']:.3g}, "
        f"{s['runs']} runs){failed}"
    )


def summary(by_check: dict) -> None:
    for (check_id, mode), runs in sorted(by_check.items()):
        s = stats(runs)
        verdict = ""
        if s["runs"] > 1 and "min" in s:
            verdict = "  holds" if s["min_2sd"] >= 0 else "  BELOW THE RULE"
        print(f"{check_id:48s} {describe(mode, s)}{verdict}")


def write(by_check: dict, measured: str, ids: set[str], doc: Path = check_margins.DOC) -> list[str]:
    """Fill the effect and measured columns of the unmeasured rows (and ``ids``) that the sweep reached."""
    lines, written = doc.read_text().splitlines(), []
    for index, line in enumerate(lines):
        row_id = line.split("`")[1] if line.startswith("| `") else None
        # "", id, nb, cell, check, modes, effect, margin, measured, "" (a "\|" inside a column is text)
        cols = re.split(r"(?<!\\)\|", line)
        modes = [mode for mode in ("quick", "lab") if (row_id, mode) in by_check]
        if not modes or (cols[6].strip() not in UNMEASURED and row_id not in ids):
            continue
        cols[6] = (
            " slack = effect − margin, min / median: "
            + "; ".join(describe(mode, stats(by_check[row_id, mode])) for mode in modes)
            + " "
        )
        cols[8] = f" {measured} "
        lines[index] = "|".join(cols)
        written.append(row_id)
    doc.write_text("\n".join(lines) + "\n")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="+", type=Path, help="notebook_runner --record-checks files")
    parser.add_argument("--write", action="store_true", help="fill the doc's unmeasured rows")
    parser.add_argument("--measured", default="", help="the measured column's text for the rows written")
    parser.add_argument("--ids", nargs="*", default=[], help="rows to rewrite even if already measured")
    args = parser.parse_args()
    by_check = runs_by_check(args.records)
    summary(by_check)
    if args.write:
        if not args.measured:
            parser.error("argument --measured: say what ran (seeds, modes, threads, machine, commit)")
        print("written:", write(by_check, args.measured, set(args.ids)))


if __name__ == "__main__":
    main()
