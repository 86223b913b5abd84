"""Serving latency: p50 / p99 and requests/s of ``POST /embed`` for each backend, side by side, over HTTP.

For each encoder — the Fashion-MNIST ConvNet (SmallConvNet width 16, 1×28×28) and the CIFAR ResNet-18
(3×32×32) — and each backend (torch, onnx, onnx-int8), a real uvicorn server runs the package's app
(``edu_contrast.serve.app.create_app``) in a subprocess on 127.0.0.1, and an httpx client sends it one PNG
per request, one request at a time (after a warm-up). The encoders are UNTRAINED (BatchNorm statistics
calibrated on random images, int8 calibrated on 256 random images): latency does not depend on the weights.

    python benchmarks/bench_serve.py [--requests 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import io
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from edu_contrast import measure, methods, serve
from edu_contrast.serve.app import create_app

MODELS = {
    "convnet-w16 1×28×28": (dict(encoder="convnet", in_channels=1, width=16), (1, 28, 28)),
    "resnet18 3×32×32": (dict(encoder="resnet18", in_channels=3), (3, 32, 32)),
}


def _embedder(model: str, backend: str, threads: int, folder: Path):
    spec, shape = MODELS[model]
    torch.manual_seed(0)
    method = methods.build_method("simclr", **spec)
    images = torch.randint(0, 256, (256, *shape), dtype=torch.uint8)
    measure.calibrate_batchnorm(method.encoder, images)
    built = serve.build_embedders(
        method.eval(), image_shape=shape, calibration_images=images, folder=folder, backends=(backend,)
    )
    if backend == "torch":
        torch.set_num_threads(threads)
    elif threads:
        built[backend] = serve.OnnxEmbedder(built[backend].path, backend=backend, threads=threads)
    return built[backend]


def serve_one(model: str, backend: str, port: int, threads: int) -> None:
    """The server side (a subprocess): uvicorn serving one encoder with one backend."""
    import uvicorn

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(_embedder(model, backend, threads, Path(folder)))
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png(shape) -> bytes:
    from PIL import Image

    c, h, w = shape
    array = np.random.default_rng(0).integers(0, 256, size=(h, w, c), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if c == 1 else array).save(buffer, "PNG")
    return buffer.getvalue()


def measure_one(model: str, backend: str, requests: int, threads: int) -> dict:
    import httpx

    port = _free_port()
    command = [sys.executable, __file__, "--serve-one", model, backend, str(port), "--threads", str(threads)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if client.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(process.stderr.read().decode()[-2000:]) from None
                    time.sleep(0.2)
            files = {"image": ("x.png", _png(MODELS[model][1]), "image/png")}
            for _ in range(20):  # warm-up
                client.post("/embed", files=files).raise_for_status()
            times = []
            start = time.perf_counter()
            for _ in range(requests):
                t0 = time.perf_counter()
                client.post("/embed", files=files).raise_for_status()
                times.append(1000 * (time.perf_counter() - t0))
            total = time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=10)
    return {"p50": np.percentile(times, 50), "p99": np.percentile(times, 99), "rps": requests / total}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of the server's model")
    p.add_argument("--serve-one", nargs=3, metavar=("MODEL", "BACKEND", "PORT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_one:
        model, backend, port = args.serve_one
        return serve_one(model, backend, int(port), args.threads)
    print("| encoder | backend | p50 (ms) | p99 (ms) | requests/s |\n| --- | --- | --- | --- | --- |")
    for model in MODELS:
        for backend in serve.BACKENDS:
            r = measure_one(model, backend, args.requests, args.threads)
            print(f"| {model} | {backend} | {r['p50']:.2f} | {r['p99']:.2f} | {r['rps']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
