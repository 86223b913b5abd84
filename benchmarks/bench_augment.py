"""Augmentation throughput: per_image in a Python loop (what a DataLoader does per sample) vs batched.

Run:  .venv/bin/python benchmarks/bench_augment.py            (CPU, 32×32 RGB, SimCLR CIFAR-10 recipe)
      .venv/bin/python benchmarks/bench_augment.py --device cuda
Target: batched ≥ 10× per_image on CPU (wall clock). Both are timed in alternation for `--repeats`
rounds and the best round of each counts: on a shared machine it is the least disturbed one. CPU time
(user + system of this process) is printed too: it leaves out time spent waiting for a core, though
not the cache and memory contention of other jobs.
"""

from __future__ import annotations

import argparse
import os
import time

import kornia.augmentation as K
import torch

from edu_contrast.augment import AugmentConfig, batched, per_image


def best_times(fns, repeats: int, sync=lambda: None) -> list[tuple[float, float]]:
    """(best wall seconds, best CPU seconds) of each function over `repeats` interleaved rounds."""
    for fn in fns:  # warm-up: first-call allocations and kernel selection
        fn()
    sync()
    best = [(float("inf"), float("inf"))] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            sync()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[i] = (min(best[i][0], wall), min(best[i][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--n", type=int, default=2048, help="images per timed run")
    parser.add_argument("--batch-size", type=int, default=256, help="fit()'s default batch size")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--breakdown", action="store_true", help="also time each step on one batch")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

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

    (loop_wall, loop_cpu), (fast_wall, fast_cpu) = best_times(
        [run_per_image, run_batched], args.repeats, sync
    )
    rows = [
        ("per_image (loop, cpu)", args.n / loop_wall, args.n / loop_cpu),
        (f"batched   ({args.batch_size}, {device.type})", args.n / fast_wall, args.n / fast_cpu),
    ]
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {threads} threads, {args.size}x{args.size} RGB, load average {load:.1f}"
    )
    for name, wall, cpu in rows:
        print(f"{name:26}: {wall:8.0f} images/s  {cpu:8.0f} images/CPU-s")
    ratio_wall, ratio_cpu = loop_wall / fast_wall, loop_cpu / fast_cpu
    print(f"{'ratio batched / per_image':26}: {ratio_wall:8.1f}x wall    {ratio_cpu:8.1f}x CPU")
    print(f"{'target':26}: >= 10x wall")
    if args.breakdown:
        print_breakdown(one, many, on_device[: args.batch_size], args.repeats, sync)


def print_breakdown(one, many, batch, repeats: int, sync) -> None:
    """CPU milliseconds of each step for one batch: per image in a loop, and batched."""
    host = batch.cpu()
    steps = [
        (f"per_image {type(t).__name__}", lambda t=t: [t(image) for image in host]) for t in one.transforms
    ]
    steps += [(f"batched   {type(m).__name__}", lambda m=m: m(batch)) for m in many.pipeline]
    # The library version of the jitter step, for comparison: same parameters, same formulas.
    c = AugmentConfig()
    kornia_jitter = K.ColorJitter(c.brightness, c.contrast, c.saturation, c.hue, p=c.jitter_p)
    kornia_jitter = kornia_jitter.to(batch.device)
    steps.append(("  (kornia ColorJitter, not used)", lambda: kornia_jitter(batch)))
    times = best_times([fn for _, fn in steps], repeats, sync)
    print(f"breakdown, CPU ms per batch of {len(batch)}:")
    for (name, _), (_, cpu) in zip(steps, times):
        print(f"  {name:36}: {1e3 * cpu:8.1f}")


if __name__ == "__main__":
    main()
