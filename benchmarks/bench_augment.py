"""Augmentation throughput: per_image in a Python loop (what a DataLoader does per sample) vs batched.

Run:  .venv/bin/python benchmarks/bench_augment.py            (CPU, 32×32 RGB, SimCLR CIFAR-10 recipe)
      .venv/bin/python benchmarks/bench_augment.py --device cuda
Target: batched ≥ 10× per_image on CPU (wall clock), each run the way training runs it:
per_image on one thread (DataLoader workers set torch to one thread each), batched in the training
process with torch's threads (`--threads`, default torch's choice). batched on one thread is printed
too: the ratio per core. All are timed in alternation for `--repeats` rounds and the best round of
each counts: on a shared machine it is the least disturbed one. CPU time (user + system of this
process) is printed too: it leaves out time spent waiting for a core, though not the cache and memory
contention of other jobs.
"""

from __future__ import annotations

import argparse
import os
import time

import kornia.augmentation as K
import torch

from edu_contrast.augment import AugmentConfig, BatchAugment, batched, per_image
from edu_contrast.utils import one_thread


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
    threads = torch.get_num_threads()

    def run_per_image():
        with one_thread():
            for image in images:
                one(image)

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    many = batched(args.size, 3, config).to(device)
    on_device = images.to(device)

    def run_batched():
        for batch in on_device.split(args.batch_size):  # (batch_size, 3, H, W)
            many(batch)

    def run_batched_one_thread():
        with one_thread():
            run_batched()

    runs = [run_per_image, run_batched] + ([run_batched_one_thread] if device.type == "cpu" else [])
    times = best_times(runs, args.repeats, sync)
    names = ["per_image (loop, 1 thread)", f"batched   ({args.batch_size}, {device.type})"]
    names += [f"batched   ({args.batch_size}, 1 thread)"]
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {threads} threads, {args.size}x{args.size} RGB, load {load:.1f}")
    for name, (wall, cpu) in zip(names, times):
        print(f"{name:28}: {args.n / wall:8.0f} images/s  {args.n / cpu:8.0f} images/CPU-s")
    (loop_wall, loop_cpu), (fast_wall, fast_cpu) = times[:2]
    ratio_wall, ratio_cpu = loop_wall / fast_wall, loop_cpu / fast_cpu
    print(f"{'ratio batched / per_image':28}: {ratio_wall:8.1f}x wall    {ratio_cpu:8.1f}x CPU")
    if len(times) == 3:
        print(f"{'ratio per core (1 thread)':28}: {loop_wall / times[2][0]:8.1f}x wall")
    print(f"{'target':28}: >= 10x wall")
    if args.breakdown:
        print_breakdown(one, many, on_device[: args.batch_size], args.repeats, sync)


def print_breakdown(one, many, batch, repeats: int, sync) -> None:
    """CPU milliseconds of each step for one batch: per image in a loop, and batched (in the chunks
    BatchAugment uses on a CPU), with kornia's version of each batched step beside it."""
    host = batch.cpu()
    steps = [
        (f"per_image {type(t).__name__}", lambda t=t: [t(image) for image in host]) for t in one.transforms
    ]
    parts = batch.split(BatchAugment.cpu_chunk) if batch.device.type == "cpu" else [batch]
    steps += [(f"batched   {type(m).__name__}", lambda m=m: [m(p) for p in parts]) for m in many.pipeline]
    # kornia's versions of the steps batched writes out, for comparison: same parameters, same laws.
    c = AugmentConfig()
    size = batch.shape[-1]
    kornia_steps = {
        "RandomResizedCrop": K.RandomResizedCrop(
            (size, size), c.crop_scale, c.crop_ratio, cropping_mode="resample"
        ),
        "RandomHorizontalFlip": K.RandomHorizontalFlip(p=c.flip_p),
        "ColorJitter": K.ColorJitter(c.brightness, c.contrast, c.saturation, c.hue, p=c.jitter_p),
        "RandomGrayscale": K.RandomGrayscale(p=c.grayscale_p),
    }
    for name, module in kornia_steps.items():
        module = module.to(batch.device)
        steps.append((f"  (kornia {name}, not used)", lambda m=module: [m(p) for p in parts]))
    times = best_times([fn for _, fn in steps], repeats, sync)
    print(f"breakdown, CPU ms per batch of {len(batch)} ({len(parts)} chunks):")
    for (name, _), (_, cpu) in zip(steps, times):
        print(f"  {name:42}: {1e3 * cpu:8.1f}")


if __name__ == "__main__":
    main()
