"""Index cost against gallery size: exact and HNSW on synthetic unit vectors, 10 000 to 1 000 000 of them.

For each n, the gallery is n random unit vectors of dimension d (``lessons.retrieval.unit_vectors``, the
vectors of notebook 16's section 6) and the queries are ``--queries`` others. Per index (``retrieval``'s
``exact``, a torch matrix product, and ``hnsw``, faiss's ``IndexHNSWFlat`` with M = ``--m``):

- build: seconds of ``retrieval.build_index`` (for exact, the normalised float32 copy);
- memory: ``retrieval.memory_per_vector`` (4·d for exact; HNSW's serialised index / n), and the process's
  resident memory growth over the build, per vector (what the operating system saw);
- queries/s of one batch of all the queries (``retrieval.queries_per_second``, median of 3), and the median
  milliseconds of one query at a time (what a server answering one request does);
- HNSW recall@k against the exact index at ``--ef-search`` (the service's default, 64).

Random directions are the hard case for a graph walk (notebook 16, section 3): recall on image embeddings is
higher. The dimension, M and efConstruction decide the build time, which grows faster than n.

    python benchmarks/bench_index_scaling.py [--sizes 10000 100000 1000000] [--dim 64] [--ef-construction 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from edu_contrast import retrieval
from edu_contrast.lessons.retrieval import unit_vectors

RESULTS = Path(__file__).resolve().parent / "results" / "bench_index_scaling.json"


def resident_bytes() -> int:
    """The process's current resident set size (VmRSS of /proc/self/status), in bytes."""
    line = next(line for line in open("/proc/self/status") if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def one_at_a_time_ms(index: retrieval.Index, queries: np.ndarray, k: int) -> float:
    """Median milliseconds of ``index.search`` on one query (a (1, d) row), over every query once."""
    index.search(queries[:1], k)  # warm-up
    times = []
    for q in queries:
        start = time.perf_counter()
        index.search(q[None, :], k)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def measure_index(vectors, queries, kind: str, args) -> tuple[dict, retrieval.Index]:
    """One index over ``vectors``: build seconds, bytes per vector (serialised and resident), queries/s."""
    options = {"m": args.m, "ef_construction": args.ef_construction, "ef_search": args.ef_search}
    before = resident_bytes()
    start = time.perf_counter()
    index = retrieval.build_index(vectors, kind=kind, **(options if kind == "hnsw" else {}))
    build_s = time.perf_counter() - start
    grown = resident_bytes() - before
    row = {
        "index": kind,
        "build_s": build_s,
        "bytes_per_vector": retrieval.memory_per_vector(index),
        "resident_bytes_per_vector": grown / len(index),
        "qps_batch": retrieval.queries_per_second(index, queries, args.k),
        "ms_one_query": one_at_a_time_ms(index, queries, args.k),
    }
    return row, index


def measure_size(n: int, args) -> list[dict]:
    vectors = unit_vectors(n, args.dim, seed=0)  # (n, d)
    queries = unit_vectors(args.queries, args.dim, seed=1)  # (q, d)
    exact_row, exact = measure_index(vectors, queries, "exact", args)
    _, true_ids = exact.search(queries, args.k)  # (q, k)
    del exact
    hnsw_row, hnsw = measure_index(vectors, queries, "hnsw", args)
    _, found_ids = hnsw.search(queries, args.k)  # (q, k) at efSearch = args.ef_search
    hnsw_row["recall"] = retrieval.recall_at_k(found_ids, true_ids, args.k)
    return [{"n": n, **exact_row}, {"n": n, **hnsw_row}]


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line), "?")
    load = open("/proc/loadavg").read().split()[:3]
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "load_average_at_start": load,
            "python": platform.python_version(), "torch": torch.__version__}  # fmt: skip


def _print_row(r: dict) -> None:
    recall = f"{r['recall']:.3f}" if "recall" in r else "1 (exact)"
    print(
        f"| {r['n']:,} | {r['index']} | {r['build_s']:.1f} | {r['bytes_per_vector']:.0f} | "
        f"{r['resident_bytes_per_vector']:.0f} | {r['qps_batch']:,.0f} | {r['ms_one_query']:.3f} | "
        f"{recall} |",
        flush=True,
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--dim", type=int, default=64, help="d of the synthetic vectors (notebook 16 uses 64)")
    p.add_argument("--m", type=int, default=32, help="HNSW links per vector and layer (faiss's M)")
    p.add_argument("--ef-construction", type=int, default=200, help="HNSW efConstruction (build only)")
    p.add_argument("--ef-search", type=int, default=64, help="HNSW efSearch for recall and queries/s")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and faiss")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the rows (default: {RESULTS})")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    retrieval._import_faiss().omp_set_num_threads(args.threads)
    machine, rows = _machine(), []
    hnsw = f"M = {args.m}, efConstruction = {args.ef_construction}, efSearch = {args.ef_search}"
    print(f"d = {args.dim}, {hnsw}, {args.queries} queries, k = {args.k}, {args.threads} thread(s); "
          f"load {machine['load_average_at_start']}")  # fmt: skip
    print("| n | index | build (s) | bytes/vector | resident bytes/vector | queries/s (batch) | "
          "ms (one query) | recall@k |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in args.sizes:
        for row in measure_size(n, args):
            rows.append(row)
            _print_row(row)
    settings = {
        k: getattr(args, k) for k in ("dim", "m", "ef_construction", "ef_search", "queries", "k", "threads")
    }
    report = {"machine": machine, "settings": settings, "rows": rows, "date": time.strftime("%Y-%m-%d %H:%M"),
              "load_average_at_end": open("/proc/loadavg").read().split()[:3]}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
