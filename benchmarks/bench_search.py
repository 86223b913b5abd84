"""Search latency: p50 / p99 and requests/s of ``POST /search`` over HTTP, exact and HNSW, 10k and 100k items.

For each gallery size and index kind, a real uvicorn server runs the package's app
(``serve.app.create_app`` with a ``serve.search.Searcher``) in a subprocess on 127.0.0.1, and one httpx
client sends it one PNG per request, one request at a time (after a warm-up), with k = 10. The same
server's ``POST /embed`` is timed too, so that ``/search − /embed`` is what the index adds.

The encoder is the one of ``bench_serve.py``'s first row: an UNTRAINED SmallConvNet (width 16,
1×28×28, h of size 128, BatchNorm statistics calibrated on random images), torch backend. The gallery is
SYNTHETIC: n standard-normal vectors of dimension 128 (unit directions uniform on the sphere), not
embedded images: latency depends on n, d and the index, not on what the vectors mean (HNSW's recall does
depend on it; ``retrieval``'s tests and notebook 16 measure that). HNSW is faiss's ``IndexHNSWFlat``
with ``retrieval.build_index``'s M = 32, efSearch = 64 and ``--ef-construction`` (default: the
library's 200; build time grows with it, query time hardly does).

    python benchmarks/bench_search.py [--sizes 10000 100000] [--requests 300] [--threads 1]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edu_contrast import measure, methods, serve
from edu_contrast.serve.app import create_app
from edu_contrast.serve.gallery import Gallery, model_identity
from edu_contrast.serve.search import Searcher

IMAGE_SHAPE = (1, 28, 28)
KINDS = ("exact", "hnsw")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_search.json"


def _embedder(threads: int):
    torch.manual_seed(0)
    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=16)
    measure.calibrate_batchnorm(method.encoder, torch.randint(0, 256, (256, *IMAGE_SHAPE), dtype=torch.uint8))
    torch.set_num_threads(threads)
    return serve.TorchEmbedder(method.eval(), IMAGE_SHAPE), model_identity(method)


def serve_one(size: int, kind: str, port: int, threads: int, ef_construction: int) -> None:
    """The server side (a subprocess): the app with a synthetic gallery of ``size`` items; it prints the
    seconds the index took to build, then serves until terminated."""
    import uvicorn

    embedder, identity = _embedder(threads)
    vectors = np.random.default_rng(0).standard_normal((size, embedder.dim)).astype(np.float32)  # (n, d)
    gallery = Gallery(
        np.arange(size), vectors, np.zeros(size, np.int64), {**identity, "dataset": "synthetic"}
    )
    if kind == "hnsw":
        import faiss

        faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    options = {"ef_construction": ef_construction} if kind == "hnsw" else {}
    searcher = Searcher(gallery, kind=kind, **options)
    print(f"built {time.perf_counter() - start:.3f}", flush=True)
    uvicorn.run(create_app(embedder, searcher=searcher), host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png() -> bytes:
    from PIL import Image

    c, h, w = IMAGE_SHAPE
    array = np.random.default_rng(0).integers(0, 256, size=(h, w), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def _latencies(client, path: str, files: dict, form: dict, requests: int) -> dict:
    for _ in range(20):  # warm-up
        client.post(path, files=files, data=form).raise_for_status()
    times = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        client.post(path, files=files, data=form).raise_for_status()
        times.append(1000 * (time.perf_counter() - t0))
    total = time.perf_counter() - start
    return {"p50_ms": np.percentile(times, 50), "p99_ms": np.percentile(times, 99), "rps": requests / total}


def measure_one(size: int, kind: str, args) -> dict:
    import httpx

    port = _free_port()
    command = [sys.executable, __file__, "--serve-one", str(size), kind, str(port),
               "--threads", str(args.threads), "--ef-construction", str(args.ef_construction)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # "built SECONDS", once the index is built
        if not line.startswith("built "):
            raise RuntimeError(process.stderr.read()[-2000:])
        row = {"size": size, "index": kind, "build_s": float(line.split()[1])}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(process.stderr.read()[-2000:]) from None
                    time.sleep(0.1)
            files = {"image": ("x.png", _png(), "image/png")}
            results = client.post("/search", files=files, data={"k": "10"}).json()["results"]
            assert len(results) == 10, results
            search = _latencies(client, "/search", files, {"k": "10"}, args.requests)
            embed = _latencies(client, "/embed", files, {}, args.requests)
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {
        **row,
        **{f"search_{k}": v for k, v in search.items()},
        **{f"embed_{k}": v for k, v in embed.items()},
    }


def _machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line), "?")
    load = open("/proc/loadavg").read().split()[:3]
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "load_average_at_start": load,
            "python": platform.python_version(), "torch": torch.__version__}  # fmt: skip


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of the server (torch and faiss)")
    p.add_argument("--ef-construction", type=int, default=200, help="HNSW efConstruction (build only)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the rows (default: {RESULTS})")
    p.add_argument("--serve-one", nargs=3, metavar=("SIZE", "KIND", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_one:
        size, kind, port = args.serve_one
        return serve_one(int(size), kind, int(port), args.threads, args.ef_construction)
    machine = _machine()
    print("| gallery | index | build (s) | /search p50 (ms) | p99 (ms) | requests/s | /embed p50 | p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    for size in args.sizes:
        for kind in args.kinds:
            r = measure_one(size, kind, args)
            rows.append(r)
            search = f"{r['search_p50_ms']:.2f} | {r['search_p99_ms']:.2f} | {r['search_rps']:.0f}"
            embed = f"{r['embed_p50_ms']:.2f} | {r['embed_p99_ms']:.2f}"
            print(f"| {size:,} | {kind} | {r['build_s']:.1f} | {search} | {embed} |", flush=True)
    settings = {k: getattr(args, k) for k in ("requests", "threads", "ef_construction")}
    report = {"machine": machine, "settings": {**settings, "k": 10, "dim": 128, "m": 32, "ef_search": 64},
              "rows": rows, "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
