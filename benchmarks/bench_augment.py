"""Augmentation throughput: per_image in a Python loop (what a DataLoader does per sample) vs batched.

Run:  .venv/bin/python benchmarks/bench_augment.py            (CPU, 32×32 RGB, SimCLR CIFAR-10 recipe)
      .venv/bin/python benchmarks/bench_augment.py --device cuda
Target: batched ≥ 10× per_image on CPU. Both are timed in alternation, `--repeats` rounds; the best
round of each counts (the machine is shared; the best round is the least disturbed one).
"""

from __future__ import annotations

import argparse
import time

import torch

from edu_contrast.augment import AugmentConfig, batched, per_image


def best_seconds(fns, repeats: int, sync=lambda: None) -> list[float]:
    """Best wall time of each function over `repeats` rounds, the functions interleaved within a round
    so that load from other jobs on a shared machine hits both alike."""
    for fn in fns:  # warm-up: first-call allocations and kernel selection
        fn()
    sync()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n", type=int, default=2048, help="images per timed run")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    torch.manual_seed(0)
    config = AugmentConfig()  # SimCLR CIFAR-10: crop, flip, jitter 0.8, grayscale 0.2
    images = torch.rand(args.n, 3, args.size, args.size)  # (N, 3, H, W) in [0, 1]

    one = per_image(args.size, 3, config)

    def run_per_image():
        for image in images:
            one(image)

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    many = batched(args.size, 3, config).to(device)
    on_device = images.to(device)

    def run_batched():
        for batch in on_device.split(args.batch_size):  # (batch_size, 3, H, W)
            many(batch)

    loop, fast = (
        args.n / seconds for seconds in best_seconds([run_per_image, run_batched], args.repeats, sync)
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.size}x{args.size} RGB")
    print(f"per_image (loop, cpu)          : {loop:10.0f} images/s")
    print(f"batched   (batch {args.batch_size}, {device.type}) : {fast:10.0f} images/s")
    print(f"ratio batched / per_image      : {fast / loop:10.1f}x  (target >= 10x)")


if __name__ == "__main__":
    main()
