"""Search latency: p50 / p99 and requests/s of HTTP ``POST /search`` or ``/search/text``, 10k and 100k items.

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

``--text`` times ``POST /search/text`` instead (JSON ``{"text": TEXT, "k": 10}``): the script first trains
the CLIP towers of ``tests/test_serve_search_text.py`` (SmallConvNet width 16 + a one-layer TextEncoder,
embed_dim 32) for ``CLIP_EPOCHS`` epochs on 2 048 generated scenes (seconds; latency does not depend on how
well it is trained), saves the run with ``serve.text_search.save_clip``, and each server loads it as
``serve --clip`` does (``TextQuery`` on /search/text) over a synthetic gallery of dimension 32. The text
tower alone (``TextQuery.embed`` in the client's process, no HTTP, no index) is timed for reference.

    python benchmarks/bench_search.py [--sizes 10000 100000] [--requests 300] [--threads 1] [--text]
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
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from edu_contrast import data, measure, methods, models, serve
from edu_contrast.serve.app import create_app
from edu_contrast.serve.gallery import Gallery, model_identity
from edu_contrast.serve.search import Searcher
from edu_contrast.serve.text_search import ImageTower, TextQuery, load_clip, save_clip

IMAGE_SHAPE = (1, 28, 28)
KINDS = ("exact", "hnsw")
RESULTS = Path(__file__).resolve().parent / "results" / "bench_search.json"
TEXT_RESULTS = RESULTS.with_name("bench_search_text.json")
TEXT = "a small red circle left of a blue square"  # a caption of the scenes' template, 9 words
CLIP_EPOCHS = 2


def _embedder(threads: int):
    torch.manual_seed(0)
    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=16)
    measure.calibrate_batchnorm(method.encoder, torch.randint(0, 256, (256, *IMAGE_SHAPE), dtype=torch.uint8))
    torch.set_num_threads(threads)
    return serve.TorchEmbedder(method.eval(), IMAGE_SHAPE), model_identity(method)


def train_tiny_clip(folder: Path) -> Path:
    """The CLIP towers of tests/test_serve_search_text.py, ``CLIP_EPOCHS`` epochs on 2 048 scenes, saved."""
    torch.manual_seed(0)
    image_encoder = models.SmallConvNet(3, feature_dim=64, width=16, last_kernel=1)
    text_encoder = models.TextEncoder(len(data.scenes.VOCABULARY), feature_dim=32, depth=1, heads=2)
    model = methods.CLIP(image_encoder, text_encoder, embed_dim=32)
    scenes = data.Scenes(2048, seed=0)
    methods.train_clip(model, scenes.images, data.scenes.tokenize(scenes.captions), epochs=CLIP_EPOCHS)
    return save_clip(model, folder)


def text_tower_ms(clip: Path, threads: int, repeats: int) -> dict:
    """Median and 99th-percentile milliseconds of ``TextQuery.embed(TEXT)`` alone, in this process."""
    torch.set_num_threads(threads)
    query = TextQuery(load_clip(clip)[0])
    times = []
    for _ in range(repeats + 20):
        start = time.perf_counter()
        query.embed(TEXT)
        times.append(1000 * (time.perf_counter() - start))
    return {"p50_ms": np.percentile(times[20:], 50), "p99_ms": np.percentile(times[20:], 99)}


def serve_one(size: int, kind: str, port: int, threads: int, ef_construction: int, clip: str | None) -> None:
    """The server side (a subprocess): the app with a synthetic gallery of ``size`` items (and, with
    ``clip``, that CLIP run's towers as ``serve --clip`` loads them); it prints the seconds the index took
    to build, then serves until terminated."""
    import uvicorn

    text_query = None
    if clip is None:
        embedder, identity = _embedder(threads)
    else:
        torch.set_num_threads(threads)
        model, settings = load_clip(clip)
        embedder = serve.TorchEmbedder(ImageTower(model), settings["image_shape"])
        identity, text_query = model_identity(model), TextQuery(model)
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
    app = create_app(embedder, searcher=searcher, text_query=text_query)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


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


def _latencies(send, requests: int) -> dict:
    """p50 / p99 milliseconds and requests/s of ``send()`` (one HTTP request), after 20 warm-ups."""
    for _ in range(20):  # warm-up
        send().raise_for_status()
    times = []
    start = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        send().raise_for_status()
        times.append(1000 * (time.perf_counter() - t0))
    total = time.perf_counter() - start
    return {"p50_ms": np.percentile(times, 50), "p99_ms": np.percentile(times, 99), "rps": requests / total}


def measure_one(size: int, kind: str, args) -> dict:
    import httpx

    port = _free_port()
    command = [sys.executable, __file__, "--serve-one", str(size), kind, str(port),
               "--threads", str(args.threads), "--ef-construction", str(args.ef_construction)]  # fmt: skip
    if args.clip is not None:
        command += ["--clip", str(args.clip)]
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
            if args.clip is not None:
                search_text = partial(client.post, "/search/text", json={"text": TEXT, "k": 10})
                assert len(search_text().json()["results"]) == 10
                timed = _latencies(search_text, args.requests)
                return {**row, **{f"search_text_{k}": v for k, v in timed.items()}}
            files = {"image": ("x.png", _png(), "image/png")}
            search = partial(client.post, "/search", files=files, data={"k": "10"})
            assert len(search().json()["results"]) == 10
            embed = partial(client.post, "/embed", files=files)
            search, embed = _latencies(search, args.requests), _latencies(embed, args.requests)
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


def _measure_all(args) -> list[dict]:
    """One server per (size, kind), each row printed as it is measured."""
    if args.clip is None:
        print("| gallery | index | build (s) | /search p50 (ms) | p99 (ms) | requests/s | /embed p50 | p99 |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    else:
        print("| gallery | index | build (s) | /search/text p50 (ms) | p99 (ms) | requests/s |")
        print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for size in args.sizes:
        for kind in args.kinds:
            r = measure_one(size, kind, args)
            rows.append(r)
            if args.clip is None:
                search = f"{r['search_p50_ms']:.2f} | {r['search_p99_ms']:.2f} | {r['search_rps']:.0f}"
                timed = f"{search} | {r['embed_p50_ms']:.2f} | {r['embed_p99_ms']:.2f}"
            else:
                p50, p99, rps = (r[f"search_text_{key}"] for key in ("p50_ms", "p99_ms", "rps"))
                timed = f"{p50:.2f} | {p99:.2f} | {rps:.0f}"
            print(f"| {size:,} | {kind} | {r['build_s']:.1f} | {timed} |", flush=True)
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of the server (torch and faiss)")
    p.add_argument("--ef-construction", type=int, default=200, help="HNSW efConstruction (build only)")
    p.add_argument("--text", action="store_true", help="time POST /search/text with a tiny CLIP run's towers")
    p.add_argument("--json", type=Path, help=f"where to write the rows (default: {RESULTS.name}, "
                   f"{TEXT_RESULTS.name} with --text, in {RESULTS.parent})")  # fmt: skip
    p.add_argument("--serve-one", nargs=3, metavar=("SIZE", "KIND", "PORT"), help=argparse.SUPPRESS)
    p.add_argument("--clip", type=Path, help=argparse.SUPPRESS)  # the servers' CLIP run, set by --text
    args = p.parse_args(argv)
    if args.serve_one:
        size, kind, port = args.serve_one
        clip = None if args.clip is None else str(args.clip)
        return serve_one(int(size), kind, int(port), args.threads, args.ef_construction, clip)
    machine, report = _machine(), {}
    if args.text:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            args.clip = train_tiny_clip(Path(folder))
            report["clip_training_s"] = time.perf_counter() - start
            report["text_tower"] = tower = text_tower_ms(args.clip, args.threads, args.requests)
            print(f"CLIP trained in {report['clip_training_s']:.1f} s; text tower alone (TextQuery.embed, "
                  f"no HTTP): p50 {tower['p50_ms']:.2f} ms, p99 {tower['p99_ms']:.2f} ms")  # fmt: skip
            rows = _measure_all(args)
    else:
        rows = _measure_all(args)
    settings = {k: getattr(args, k) for k in ("requests", "threads", "ef_construction", "text")}
    dim = 32 if args.text else 128
    report = {"machine": machine, "settings": {**settings, "k": 10, "dim": dim, "m": 32, "ef_search": 64},
              **report, "rows": rows, "date": time.strftime("%Y-%m-%d %H:%M"),
              "load_average_at_end": open("/proc/loadavg").read().split()[:3]}  # fmt: skip
    path = args.json or (TEXT_RESULTS if args.text else RESULTS)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
