"""Time and peak extra memory of the diagnostics on 50 000 × 128 embeddings.

    .venv/bin/python benchmarks/bench_diagnostics.py [--n 50000] [--dim 128] [--threads 2] [--repeat 3]

Peak extra memory is the largest resident set size (RSS, psutil) sampled every millisecond by a
background thread during the call, minus the RSS just before it: torch allocates outside Python's
allocator, so tracemalloc would not see it. Timings on shared cores are noisy: the best of
``--repeat`` runs is compared with the target, and the CPU seconds (both threads) are printed too.
Targets (2 CPU cores): exact uniformity ≤ 30 s and ≤ 1.5 GB extra; effective rank ≤ 5 s.
"""

from __future__ import annotations

import argparse
import math
import threading
import time

import psutil
import torch

from edu_contrast import diagnostics, probes

TARGETS = {
    "uniformity": (30.0, 1.5),
    "alignment": (None, 1.5),
    "effective_rank": (5.0, 1.5),
    "knn_probe": (None, 1.5),
}
GiB = 2**30


class PeakRSS:
    """Context manager: ``extra`` is the peak RSS above the RSS at entry, in bytes."""

    def __init__(self, interval: float = 0.001):
        self.interval = interval
        self.process = psutil.Process()

    def __enter__(self):
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        self.extra = self.peak - self.baseline


def measure(fn, repeat: int):
    """(result, best wall seconds, median wall seconds, CPU seconds of the best run, peak extra bytes)."""
    runs = []
    for _ in range(repeat):
        with PeakRSS() as memory:
            start, cpu_start = time.perf_counter(), time.process_time()
            result = fn()
            seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        runs.append((seconds, cpu_seconds, memory.extra))
    best = min(runs)
    median = sorted(r[0] for r in runs)[len(runs) // 2]
    return result, best[0], median, best[1], max(r[2] for r in runs)


def check_blocked_equals_naive(n: int = 300, dim: int = 16) -> float:
    """Largest |blocked − naive pdist| over t and block sizes on a small N (float64)."""
    z = torch.randn(n, dim, dtype=torch.float64)
    z_hat = torch.nn.functional.normalize(z, dim=1)
    worst = 0.0
    for t in (0.5, 2.0, 10.0):
        naive = torch.logsumexp(-t * torch.pdist(z_hat).pow(2), dim=0).item() - math.log(n * (n - 1) / 2)
        for block_rows in (1, 7, 64, n):
            worst = max(worst, abs(diagnostics.uniformity(z, t=t, _block_rows=block_rows) - naive))
    return worst


def population_uniformity(dim: int, t: float = 2.0) -> float:
    """log E exp(−t‖x−y‖²) for x, y uniform on S^(d−1).

    = −2t + log E exp(κ x·y) = −2t + log[Γ(ν+1) (2/κ)^ν I_ν(κ)] with κ = 2t, ν = d/2 − 1.
    """
    from scipy.special import gammaln, ive

    kappa, nu = 2 * t, dim / 2 - 1
    return -2 * t + gammaln(nu + 1) + nu * math.log(2 / kappa) + math.log(ive(nu, kappa)) + kappa


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per diagnostic (best is reported)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {psutil.cpu_count()} CPUs visible")
    print(f"small-N check: max |blocked − naive pdist| = {check_blocked_equals_naive():.2e}")

    z1 = torch.randn(args.n, args.dim)
    z2 = z1 + 0.5 * torch.randn(args.n, args.dim)
    labels = torch.randint(0, 10, (args.n,))
    diagnostics.uniformity(z1[:100])  # warm up lazy allocations outside the measurement
    runs = {
        "uniformity": lambda: diagnostics.uniformity(z1),
        "alignment": lambda: diagnostics.alignment(z1, z2),
        "effective_rank": lambda: diagnostics.effective_rank(z1),
        # Not a diagnostic, but the other large-N evaluation: 10 000 test rows against N train rows.
        "knn_probe": lambda: probes.knn_probe(z1, labels, z2[:10_000], labels[:10_000]),
    }
    print(f"\n{args.n} × {args.dim} float32 embeddings, best of {args.repeat} runs")
    header = ["diagnostic", "value", "best s", "median s", "cpu s", "target s", "extra GiB", "target"]
    print(f"{header[0]:<16}" + "".join(f"{h:>11}" for h in header[1:]))
    for name, run in runs.items():
        value, best, median, cpu, extra = measure(run, args.repeat)
        target_s, target_gib = TARGETS[name]
        ok = (target_s is None or best <= target_s) and extra <= target_gib * GiB
        target_text = "-" if target_s is None else f"{target_s:.0f}"
        print(
            f"{name:<16}{value:>11.6f}{best:>11.2f}{median:>11.2f}{cpu:>11.2f}{target_text:>11}"
            f"{extra / GiB:>11.3f}{target_gib:>11.1f}  {'ok' if ok else 'MISSED'}"
        )
    load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
    print(
        f"\nload average (1, 5, 15 min): {load} on {psutil.cpu_count()} CPUs"
        " (above the CPU count: the cores are shared and timings are noisy)"
    )
    print(f"\npopulation uniformity on S^{args.dim - 1} (t = 2): {population_uniformity(args.dim):.6f}")


if __name__ == "__main__":
    main()
