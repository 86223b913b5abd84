"""The torch linear probe against scikit-learn's, on the same 60 000 × d features.

    .venv/bin/python benchmarks/bench_probe.py [--features convnet|projection] [--repeat 2] [--threads T]

Features (float32, computed once, not timed):
- ``convnet`` (default): h of the default CLI run's encoder before training — an untrained
  ``SmallConvNet`` (width 16, feature_dim 256, seed 0) with BatchNorm calibrated on the training
  images — on all Fashion-MNIST images (60 000 train / 10 000 test);
- ``projection``: ReLU of a random projection of the pixels to 256 features (seconds instead of
  minutes to compute).
Without Fashion-MNIST (``data.load_dataset("fashion-mnist", download=False)`` fails) the 8×8 digits'
train / test splits are tiled to 60 000 / 10 000 noisy copies (pixel noise σ = 2 of 16) and projected.

Timed: ``probes.LinearProbe().fit(train).score(test)`` (``--repeat`` times, in alternation with the
reference) and the probe this package used before, scikit-learn's ``StandardScaler`` +
``LogisticRegression(C=1, max_iter=1000)`` (lbfgs), once (it takes minutes). Both include the
standardisation. Printed: both times, the ratio, both accuracies and iteration counts, the CPU, AMX or
not, the threads and the load average (other jobs on shared cores slow both down: compare ratios).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import numpy as np
import torch

from edu_contrast import data, measure, models, probes
from edu_contrast.train.precision import cpu_has_fast_bfloat16


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    amx = "AMX (bfloat16 autocast)" if cpu_has_fast_bfloat16() else "no AMX (float32 training)"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs, {amx}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads; load average {load}; {datetime.date.today()}"
    )


class _Encoder(torch.nn.Module):
    """A bare encoder with the ``embed`` that ``measure.embed`` calls."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder

    def embed(self, x):
        return self.encoder(x)


def _images():
    """(train ImageTensors, test ImageTensors, name): Fashion-MNIST, or tiled noisy digits without it."""
    try:
        train = data.load_dataset("fashion-mnist", "train", download=False)
        return train, data.load_dataset("fashion-mnist", "test", download=False), "Fashion-MNIST"
    except (FileNotFoundError, OSError):
        g = torch.Generator().manual_seed(0)
        sets = []
        for split, n in (("train", 60_000), ("test", 10_000)):
            digits = data.load_dataset("digits", split)
            pick = torch.randint(0, len(digits.labels), (n,), generator=g)  # (n,)
            noise = 32 * torch.randn(n, *digits.images.shape[1:], generator=g)  # σ = 2 of 16 grey levels
            images = (digits.images[pick].float() + noise).clamp(0, 255).to(torch.uint8)
            sets.append(data.ImageTensors(images, digits.labels[pick], digits.classes))
        return sets[0], sets[1], "digits tiled to 60 000 / 10 000 noisy copies"


def features(kind: str, dim: int = 256):
    """(train_x, train_y, test_x, test_y, description) as float32 CPU tensors."""
    train, test, name = _images()
    if kind == "convnet" and name == "Fashion-MNIST":
        torch.manual_seed(0)
        encoder = models.SmallConvNet(train.images.shape[1], feature_dim=dim, width=16)
        measure.calibrate_batchnorm(encoder, train.images[:10_000])
        model = _Encoder(encoder)
        train_x, test_x = measure.embed(model, train.images), measure.embed(model, test.images)
        return train_x, train.labels, test_x, test.labels, f"untrained SmallConvNet h (d={dim}) of {name}"
    g = torch.Generator().manual_seed(0)
    pixels = train.images[0].numel()
    projection = torch.randn(pixels, dim, generator=g) / pixels**0.5  # (pixels, d)
    embed = lambda images: torch.relu(images.flatten(1).float() / 255 @ projection)  # (n, d)
    return (
        embed(train.images),
        train.labels,
        embed(test.images),
        test.labels,
        f"ReLU random projection of {name}",
    )


def torch_probe(train_x, train_y, test_x, test_y):
    """(seconds, accuracy, iterations) of this package's LinearProbe."""
    start = time.perf_counter()
    probe = probes.LinearProbe().fit(train_x, train_y)
    accuracy = probe.score(test_x, test_y)
    return time.perf_counter() - start, accuracy, probe.n_iter_


def sklearn_probe(train_x, train_y, test_x, test_y):
    """(seconds, accuracy, iterations) of the previous probe: StandardScaler + LogisticRegression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_x, test_x = train_x.double().numpy(), test_x.double().numpy()
    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=0))
    model.fit(train_x, train_y.numpy())
    accuracy = float(np.mean(model.predict(test_x) == test_y.numpy()))
    return time.perf_counter() - start, accuracy, int(model[-1].n_iter_[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", choices=("convnet", "projection"), default="convnet")
    parser.add_argument("--repeat", type=int, default=2, help="runs of the torch probe (best is compared)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-sklearn", action="store_true", help="time only the torch probe")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {machine_line()}", flush=True)
    start = time.perf_counter()
    train_x, train_y, test_x, test_y, description = features(args.features)
    print(f"features: {description}, train {tuple(train_x.shape)}, test {tuple(test_x.shape)} "
          f"({time.perf_counter() - start:.0f} s to compute, not timed)", flush=True)  # fmt: skip

    runs = [torch_probe(train_x, train_y, test_x, test_y)]
    print(f"torch  LinearProbe        {runs[-1][0]:7.1f} s  accuracy {runs[-1][1]:.4f}  "
          f"{runs[-1][2]} L-BFGS iterations", flush=True)  # fmt: skip
    reference = None
    if not args.skip_sklearn:
        reference = sklearn_probe(train_x, train_y, test_x, test_y)
        print(f"sklearn LogisticRegression {reference[0]:7.1f} s  accuracy {reference[1]:.4f}  "
              f"{reference[2]} lbfgs iterations", flush=True)  # fmt: skip
    for _ in range(args.repeat - 1):
        runs.append(torch_probe(train_x, train_y, test_x, test_y))
        print(f"torch  LinearProbe        {runs[-1][0]:7.1f} s  accuracy {runs[-1][1]:.4f}", flush=True)
    best = min(r[0] for r in runs)
    print(f"machine after: {machine_line()}")
    if reference is not None:
        print(
            f"torch probe {best:.1f} s (best of {len(runs)}) vs scikit-learn {reference[0]:.1f} s: "
            f"{reference[0] / best:.1f}x faster; accuracy {runs[0][1]:.4f} vs {reference[1]:.4f} "
            f"(difference {100 * (runs[0][1] - reference[1]):+.2f} points)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
