"""Images/second of SimCLR's training step on a GPU: data pipeline, model step, and both together.

    python benchmarks/bench_gpu_step.py                 # ResNet-18 CIFAR, batch 512, mixed precision
    python benchmarks/bench_gpu_step.py --cpu-smoke     # tiny CPU run that only checks the script works

Three measurements, each with the code ``train.fit`` runs:
  1. pipeline: index the uint8 images in GPU memory, convert to float, two ``augment.batched`` views;
  2. model:    ``train.train_step`` on fixed, pre-augmented views (forward, backward, AdamW), inside
               ``values_checked_by_caller()`` as in ``fit`` (the losses read no value: no sync per step);
  3. full:     1 then 2, as in ``fit``.
Batch, learning rate and encoder: CIFAR-10's ``train.dataset_defaults``.
Target: full-step time ≤ 1.5 × model-step time (the augmentation must not be the bottleneck).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from edu_contrast import augment, train
from edu_contrast._validation import values_checked_by_caller
from edu_contrast.methods import build_method

CIFAR10 = train.dataset_defaults("cifar10", "simclr")


def _timed(fn, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls (synchronising the GPU around the timing)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="tiny CPU version (checks the script, not speed)"
    )
    parser.add_argument("--batch-size", type=int, default=CIFAR10.fit["batch_size"])
    parser.add_argument("--encoder", default=CIFAR10.method["encoder"])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto")
    args = parser.parse_args(argv)

    if args.cpu_smoke:
        device, encoder, batch, steps, warmup, n_images = torch.device("cpu"), "convnet", 16, 2, 1, 64
    elif not torch.cuda.is_available():
        print(
            "bench_gpu_step.py measures GPU throughput and needs CUDA, which is not available here. "
            "Run it on a GPU machine (e.g. Colab), or pass --cpu-smoke for a tiny functional check.",
            file=sys.stderr,
        )
        return 2
    else:
        device, encoder, batch, steps, warmup, n_images = (
            torch.device("cuda"),
            args.encoder,
            args.batch_size,
            args.steps,
            10,
            50_000,
        )

    torch.manual_seed(0)
    images = torch.randint(0, 256, (n_images, 3, 32, 32), dtype=torch.uint8, device=device)  # CIFAR-10-shaped
    labels = torch.randint(0, 10, (n_images,), device=device)
    aug = augment.batched(32, 3).to(device)
    method = build_method(
        "simclr", encoder=encoder, in_channels=3, **({"width": 8} if args.cpu_smoke else {})
    )
    method.to(device)
    if device.type == "cuda":
        method.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    amp_dtype = train.autocast_dtype(args.amp, device)
    optimizer = torch.optim.AdamW(
        method.parameters(), lr=CIFAR10.fit["lr"], weight_decay=train.FitConfig.weight_decay
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def indices():
        return torch.randint(0, n_images, (batch,), device=device)

    fixed = train.two_views(images, labels, indices(), aug)

    def pipeline():
        return train.two_views(images, labels, indices(), aug)

    def model_step():
        with values_checked_by_caller():
            return train.train_step(method, optimizer, scaler, *fixed, amp_dtype)

    def full_step():
        views = pipeline()
        with values_checked_by_caller():
            return train.train_step(method, optimizer, scaler, *views, amp_dtype)

    seconds = {
        name: _timed(fn, steps, warmup, device)
        for name, fn in (("pipeline", pipeline), ("model", model_step), ("full", full_step))
    }
    name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke test, not a benchmark)"
    )
    print(
        f"device: {name} | encoder {encoder} | batch {batch} | autocast {amp_dtype} | "
        f"torch {torch.__version__}"
    )
    for key, value in seconds.items():
        print(f"{key:>9}: {batch / value:10.0f} images/s  ({1000 * value:.2f} ms/step)")
    ratio = seconds["full"] / seconds["model"]
    print(f"full / model step time: {ratio:.2f} (target <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
