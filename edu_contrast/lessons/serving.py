r"""Notebook 10: serving embeddings — export f to ONNX, quantize it to int8, measure what that costs.

    h = f(x)                                      (the encoder a run trained; what a service returns)
    q = clip(round(t / s) + z, 0, 255),  t ≈ s·(q − z)      (uint8 quantization of a tensor t)
    s = (t_max − t_min) / 255,   z = round(−t_min / s)        (min–max calibration of one tensor)

The experiments: train a small SimCLR on digits (``train_encoder``), build the three backends
(``serve.build_embedders``: torch, onnx, onnx-int8), compare them (``compare_backends``: max |Δh|
against PyTorch, linear probe on each backend's features, file size) and time them in process
(``latency``). The HTTP service itself is ``edu_contrast.serve.app``.

Section 6's check compares the class gap (mean cosine of same-class pairs − of different-class pairs) of
the trained encoder with that of the same network untrained (``random_backend``: the run's initial
weights, BatchNorm statistics estimated on the training images), a baseline that can win: random
convolutional features already group images by class (``class_gap_effects``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from edu_contrast import data, measure, methods, probes, serve, train
from edu_contrast._validation import check_choice, check_int, check_positive, fail
from edu_contrast.lessons._checks import check_effect

__all__ = [
    "SETTINGS",
    "load_data",
    "train_encoder",
    "build_backends",
    "compare_backends",
    "latency",
    "similarities",
    "class_cosines",
    "random_backend",
    "class_gap_effects",
    "check_effect",
    "quantization_params",
    "quantize_uint8",
    "dequantize",
]

# quick: digits, the tests' CPU budget; lab: a Fashion-MNIST subset in a few minutes on 2 CPU cores;
# full: all of Fashion-MNIST (a GPU, or a long CPU run).
SETTINGS = {
    "quick": {"dataset": "digits", "train_size": None, "test_size": None, "epochs": 3, "width": 8,
              "feature_dim": 64, "repeats": 50},
    "lab": {"dataset": "fashion-mnist", "train_size": 6000, "test_size": 2000, "epochs": 6, "width": 16,
            "feature_dim": 128, "repeats": 300},
    "full": {"dataset": "fashion-mnist", "train_size": None, "test_size": None, "epochs": 20, "width": 32,
             "feature_dim": 128, "repeats": 1000},
}  # fmt: skip


def load_data(mode: str = "quick", *, seed: int = 0):
    """``(train_data, test_data)`` of ``mode``: digits (quick) or a stratified Fashion-MNIST subset."""
    s = SETTINGS[check_choice(mode, "mode", "load_data", tuple(SETTINGS))]
    splits = [data.load_dataset(s["dataset"], split) for split in ("train", "test")]
    g = torch.Generator().manual_seed(seed)
    sizes = (s["train_size"], s["test_size"])
    return tuple(d if n is None else d.subset(n, g) for d, n in zip(splits, sizes))


def train_encoder(out_dir: str | Path, *, mode: str = "quick", seed: int = 0):
    """SimCLR with a SmallConvNet on ``load_data(mode)``, checkpointed in ``out_dir`` by ``train.fit``.

    Returns ``(method, train_data, test_data, result)`` with ``result`` what ``fit`` returned
    (``linear_accuracy`` of the PyTorch encoder among it).
    """
    s = SETTINGS[check_choice(mode, "mode", "train_encoder", tuple(SETTINGS))]
    train_data, test_data = load_data(mode, seed=seed)
    method = _initial_method(train_data, s, seed)
    result = train.fit(
        method, train_data, eval_data=test_data, epochs=s["epochs"], batch_size=256, seed=seed,
        out_dir=out_dir, overwrite=True, progress=False, device="cpu", config={"dataset": s["dataset"]},
    )  # fmt: skip
    return method.eval(), train_data, test_data, result


def _initial_method(train_data, settings: dict, seed: int):
    """SimCLR with ``settings``' SmallConvNet, its weights drawn after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return methods.build_method(
        "simclr", encoder="convnet", in_channels=train_data.channels, width=settings["width"],
        feature_dim=settings["feature_dim"],
    )  # fmt: skip


def random_backend(train_data, *, mode: str = "quick", seed: int = 0) -> serve.TorchEmbedder:
    """The baseline that can win: ``train_encoder``'s network before its first step (the same seed, the
    same initial weights), BatchNorm statistics estimated on ``train_data``'s images
    (``measure.calibrate_batchnorm``, notebook 03), served by PyTorch."""
    s = SETTINGS[check_choice(mode, "mode", "random_backend", tuple(SETTINGS))]
    with torch.random.fork_rng():  # the notebook's random state is left as it was
        method = _initial_method(train_data, s, seed)
    measure.calibrate_batchnorm(method, train_data.images)
    return serve.TorchEmbedder(method.eval(), tuple(train_data.images.shape[1:]))


def build_backends(method, train_data, folder: str | Path, *, calibration_size: int = 512, seed: int = 0):
    """``{"torch", "onnx", "onnx-int8": Embedder}`` of ``method``'s encoder; int8 calibrated on
    ``calibration_size`` training images."""
    calibration = serve.calibration_batch(train_data.images, calibration_size, seed=seed)
    shape = tuple(train_data.images.shape[1:])
    return serve.build_embedders(method, image_shape=shape, calibration_images=calibration, folder=folder)


def compare_backends(embedders: dict, train_data, test_data) -> dict[str, dict]:
    """Per backend: ``max_abs_difference`` of its h from PyTorch's on the test images, the linear probe on
    its features, and its model file's size in kB (PyTorch: the encoder's float32 parameters)."""
    reference = embedders["torch"].embed(test_data.images)  # (M, d)
    rows = {}
    for name, e in embedders.items():
        h_train = torch.from_numpy(e.embed(train_data.images))  # (N, d)
        h_test = e.embed(test_data.images)  # (M, d)
        size = (
            Path(e.path).stat().st_size
            if hasattr(e, "path")
            else sum(4 * p.numel() for p in e.encoder.parameters())
        )
        rows[name] = {
            "max_abs_difference": float(np.abs(h_test - reference).max()),
            "linear_accuracy": probes.linear_probe(
                h_train, train_data.labels, torch.from_numpy(h_test), test_data.labels
            ),
            "size_kb": size / 1000,
        }
    return rows


def latency(embedders: dict, images, *, repeats: int = 100, batch_size: int = 1) -> dict[str, dict]:
    """In-process latency of ``embed`` on ``batch_size`` images: p50 and p99 in milliseconds per backend.

    One warm-up call first; every backend embeds the same images. No HTTP: the service adds decoding
    and the request's round trip on top (``benchmarks/bench_serve.py`` measures those).
    """
    repeats = check_int(repeats, "repeats", "latency", minimum=2)
    batch = images[:batch_size]
    out = {}
    for name, e in embedders.items():
        e.embed(batch)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            e.embed(batch)
            times.append(1000 * (time.perf_counter() - start))
        out[name] = {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}
    return out


def similarities(embedders: dict, image_a, image_b) -> dict[str, float]:
    """cos(h_a, h_b) of two uint8 images (C, H, W) under each backend (what ``/similarity`` answers)."""
    pair = np.stack([np.asarray(image_a), np.asarray(image_b)])  # (2, C, H, W)
    out = {}
    for name, e in embedders.items():
        h = e.embed(pair).astype(np.float64)  # (2, d)
        out[name] = float(h[0] @ h[1] / max(np.linalg.norm(h[0]) * np.linalg.norm(h[1]), 1e-12))
    return out


def class_cosines(embedders: dict, images, labels) -> dict[str, dict[str, float]]:
    """Per backend: the mean cos(h_i, h_j) over pairs i ≠ j of the same class (``"same"``) and of
    different classes (``"different"``), on uint8 ``images`` (N, C, H, W) with ``labels`` (N,)."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]  # (N, N)
    off_diagonal = ~np.eye(len(labels), dtype=bool)  # (N, N)
    out = {}
    for name, e in embedders.items():
        h = e.embed(images).astype(np.float64)  # (N, d)
        h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
        cos = h @ h.T  # (N, N) cos(h_i, h_j)
        out[name] = {"same": float(cos[same & off_diagonal].mean()), "different": float(cos[~same].mean())}
    return out


def class_gap_effects(cosines: dict, *, trained: str = "torch", random: str = "random") -> dict:
    """Section 6's effect, > 0 when training grouped the classes more than random features do.

        gap = mean cos(h_i, h_j) over same-class pairs − over different-class pairs   (``class_cosines``)

    ``"class gap: trained − random"`` = gap of the ``trained`` backend − gap of the ``random`` one
    (``random_backend``), both rows of ``cosines``.
    """
    for name, key in ((trained, "trained"), (random, "random")):
        if name not in cosines:
            fail("cosines", "class_gap_effects", f"a row for the {key} backend {name!r}", sorted(cosines))
    gap = {name: cosines[name]["same"] - cosines[name]["different"] for name in (trained, random)}
    return {"class gap: trained − random": gap[trained] - gap[random]}


def quantization_params(t_min: float, t_max: float) -> tuple[float, int]:
    """Min–max calibration of uint8: s = (t_max − t_min)/255 and z = round(−t_min/s), with 0 in the range."""
    t_min, t_max = min(float(t_min), 0.0), max(float(t_max), 0.0)  # 0 must be exact (padding, ReLU)
    scale = (t_max - t_min) / 255 or 1.0
    return scale, int(np.clip(round(-t_min / scale), 0, 255))


def quantize_uint8(t: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """q = clip(round(t / s) + z, 0, 255) as uint8; ``scale`` is s > 0, ``zero_point`` is z ∈ [0, 255]."""
    scale = check_positive(scale, "scale", "quantize_uint8")
    return (torch.round(t / scale) + zero_point).clamp(0, 255).to(torch.uint8)


def dequantize(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """t̂ = s · (q − z): the float value an int8 kernel's result stands for."""
    return scale * (q.to(torch.float32) - zero_point)
