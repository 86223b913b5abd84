"""Notebook 01's check effects over seeds: the numbers its check cells assert on, one JSON line per seed.

Runs what notebook 01's check cells run, with the notebook's sizes, mode and seed, without the notebook:
the three identities of cells 6, 13 and 15 (fixed inputs: they do not depend on the seed, only on the
float arithmetic, so they are recorded per thread count) and section 6's experiment
(``lessons.infonce.infonce_vs_batch_size``, cell 19), whose five checks in cell 21 depend on the seed.
Appends the raw numbers to ``--out``; ``--summary`` prints each check's effect min / median / sd and
min − 2·sd (the largest margin the rule of docs/check_margins.md allows) per mode and thread count.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/sweep_infonce.py --mode quick --seeds 0 1 2 \
        --threads 1 --out benchmarks/results/sweep_01_quick.jsonl
    .venv/bin/python benchmarks/sweep_infonce.py --summary benchmarks/results/sweep_01_*.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from edu_contrast import losses
from edu_contrast.lessons import infonce as lesson
from edu_contrast.utils import seed_everything

try:  # the summary all sweeps print
    from _sweeps import summarize
except ImportError:  # run from another folder
    from benchmarks._sweeps import summarize

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_infonce.ipynb"
RHO, DIM = 0.7, 10  # cell 19
SIZES = {  # cell 19's setup.pick: (batch sizes N, critic training steps)
    "quick": ([2, 8, 32, 128, 512], 300),
    "lab": ([2, 4, 8, 16, 32, 64, 128, 256, 512], 1000),
    "full": ([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], 2000),
}


def _same_sizes_as_the_notebook() -> None:
    """Stop when cell 19's sizes changed and this sweep would measure something else."""
    source = "".join("".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"])
    for mode, sizes in SIZES.items():
        if f"{mode}=({sizes[0]}, {sizes[1]})" not in source:
            raise SystemExit(f"notebook 01 no longer picks {mode}=({sizes[0]}, {sizes[1]}): update SIZES")


def identity_errors() -> dict:
    """The largest |difference| each identity check of cells 6, 13 and 15 compares with its tolerance."""
    torch.manual_seed(0)  # cell 6
    n, d, tau = 8, 16, 0.1
    q = torch.randn(n, d)
    k = q + 0.7 * torch.randn(n, d)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / tau
    infonce = (F.cross_entropy(logits, torch.arange(n)) - losses.info_nce(q, k, temperature=tau)).abs()
    collapsed = []  # cell 13: identical views give log(2N − 1)
    for n in (2, 8, 64):
        for temperature in (0.05, 0.5):
            same = torch.ones(n, 16)
            built = F.cross_entropy(*lesson.nt_xent_logits(same, same, temperature))
            for loss in (losses.nt_xent(same, same, temperature=temperature), built):
                collapsed.append(abs(float(loss) - math.log(2 * n - 1)))
    torch.manual_seed(1)  # cell 15
    classes, d, n, tau = 10, 16, 32, 0.1
    features, prototypes = torch.randn(n, d), torch.randn(classes, d)
    y = torch.randint(0, classes, (n,))
    ce = F.cross_entropy(F.normalize(features, dim=1) @ F.normalize(prototypes, dim=1).T / tau, y)
    wrong_class = ~F.one_hot(y, classes).bool()
    negatives = prototypes.expand(n, classes, d)[wrong_class].view(n, classes - 1, d)
    nce = losses.info_nce(features, prototypes[y], negatives, temperature=tau)
    return {"infonce": float(infonce), "collapsed": max(collapsed), "prototypes": float((ce - nce).abs())}


def run_seed(mode: str, seed: int) -> dict:
    """Every number notebook 01's check cells read, for one seed."""
    seed_everything(seed)  # as notebook_setup does
    batch_sizes, steps = SIZES[mode]
    rows = lesson.infonce_vs_batch_size(batch_sizes, rho=RHO, dim=DIM, steps=steps, seed=seed)
    keep = ("batch_size", "log_n", "untrained", "learned", "optimal")
    return {"identities": identity_errors(), "rows": [{k: r[k] for k in keep} for r in rows]}


def effects(line: dict) -> dict:
    """Each check of cell 21 as one number that must exceed its margin (> 0.5, > −0.05, > 0.8, > −0.05,
    > 2.0), and each identity's largest error (must stay below 1e-5, 1e-4, 1e-5)."""
    rows = line["rows"]
    learned = [r["learned"] for r in rows]
    return {
        "min (trained − untrained) / optimal": min(
            (r["learned"] - r["untrained"]) / r["optimal"] for r in rows
        ),
        "min optimal − trained": min(r["optimal"] - r["learned"] for r in rows),
        "trained / optimal at the largest N": rows[-1]["learned"] / rows[-1]["optimal"],
        "min step of the estimate with N": min(b - a for a, b in zip(learned, learned[1:])),
        "estimate: largest N − smallest N": learned[-1] - learned[0],
        **{f"error: {name}": value for name, value in line["identities"].items()},
    }


def summary(paths: list[str]) -> None:
    summarize(paths, effects)


def cpu_name() -> str:
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return names[0] if names else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="quick", choices=tuple(SIZES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--out", help="JSON-lines file, appended to")
    parser.add_argument("--summary", nargs="+", metavar="JSONL", help="summarise these files instead")
    args = parser.parse_args()
    if args.summary:
        return summary(args.summary)
    if not args.out:
        parser.error("--out is required unless --summary is given")
    _same_sizes_as_the_notebook()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        start = time.perf_counter()
        numbers = run_seed(args.mode, seed)
        seconds = round(time.perf_counter() - start, 1)
        load = float(open("/proc/loadavg").read().split()[0])  # 1-minute load average: others' jobs too
        line = {"mode": args.mode, "seed": seed, "threads": args.threads, "cpu": cpu_name(),
                "torch": torch.__version__, "seconds": seconds, "load": load, **numbers}  # fmt: skip
        with open(args.out, "a") as f:
            f.write(json.dumps(line) + "\n")
        print(f"mode {args.mode} seed {seed} threads {args.threads}: {seconds} s (load {load})", flush=True)


if __name__ == "__main__":
    main()
