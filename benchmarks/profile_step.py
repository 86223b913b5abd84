"""Where one SimCLR training step's time goes on this CPU, and which levers make it cheaper.

    .venv/bin/python benchmarks/profile_step.py [--steps 20] [--warmup 5] [--rounds 2] [--skip-compile]

The step is the default CLI run's (``python -m edu_contrast train --method simclr --dataset
fashion-mnist``, ``train.dataset_defaults("fashion-mnist")``): SmallConvNet width 16, h of size 512, last
3×3 convolution at stride 2, projection head h → 512 → 128, batch 128, NT-Xent τ = 0.2, AdamW lr 3·10⁻³;
``augment.batched(20, 1)`` makes the two 20×20 views of uint8 images gathered from memory and moved to float
with ``utils.to_float`` (as ``train.fit`` does); the method's weights are channels_last
(``train.fit.prepare`` does that too). float32, torch's default threads. Images: Fashion-MNIST's 60 000
training images, or random uint8 28×28 images without it.

1. Breakdown of a step, timed with ``time.perf_counter`` around each part (``--steps`` steps after
   ``--warmup``; the median step of each part, robust to other jobs on shared cores): augmentation
   (gather + float + two views), encoder forward, head forward, NT-Xent, backward, AdamW step; and
   ``torch.profiler``'s operators by self CPU time over the same kind of steps.
2. Levers, each the median step time relative to the plain float32 step measured in the same rounds
   (the configurations alternate, ``--rounds`` rounds of ``--steps`` steps each): channels_last off,
   ``torch.compile`` (inductor; needs a C++ compiler, falls back to "failed" with the reason),
   oneDNN (``torch.backends.mkldnn``) off, bfloat16 autocast, one thread instead of torch's default,
   the losses reading their inputs' values (finiteness: one sync per input on a GPU; ``fit`` runs its
   steps in ``values_checked_by_caller()``, which skips those reads),
   other batch sizes (time per image), whole-image 28×28 views (the default before views of 20×20),
   the earlier default encoder (h of 256, last convolution at stride 1, 28×28 views), and encoders
   with fewer FLOPs (width 12, feature_dim 256, the last 3×3 convolution as 1×1: time only, their
   accuracy is not measured here).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict

import torch

from edu_contrast import augment, data, losses, methods, train
from edu_contrast._validation import values_checked_by_caller
from edu_contrast.train.defaults import ENCODER_KEYS as ENCODER
from edu_contrast.utils import to_float

try:  # the machine line of the probe benchmark (CPU model, AMX, threads, load)
    from bench_probe import machine_line
except ImportError:  # run from another folder
    from benchmarks.bench_probe import machine_line

# the CLI's encoder and optimiser for Fashion-MNIST SimCLR (train.defaults; weight decay: FitConfig's)
FASHION = train.dataset_defaults("fashion-mnist", "simclr")
DEFAULTS = {**FASHION.method, **FASHION.fit, "weight_decay": train.FitConfig.weight_decay}
ENCODER_KEYS = ENCODER[1:]  # width, feature_dim, last_kernel, last_stride: Setup's **net overrides these
PARTS = ("augment", "encoder fwd", "head fwd", "loss", "backward", "optimizer")


def load_images() -> tuple[torch.Tensor, str]:
    try:
        return data.load_dataset("fashion-mnist", "train", download=False).images, "Fashion-MNIST train"
    except (FileNotFoundError, OSError):
        g = torch.Generator().manual_seed(0)
        return torch.randint(0, 256, (60_000, 1, 28, 28), generator=g, dtype=torch.uint8), "random uint8"


class Setup:
    """A fresh SimCLR method (seed 0), its AdamW and the batched augmentation, as ``train.fit`` has them."""

    def __init__(
        self,
        images,
        *,
        batch_size=DEFAULTS["batch_size"],
        channels_last=True,
        compile_model=False,
        amp=None,
        view_size=DEFAULTS["view_size"] or 28,
        checks_values=False,
        **net,
    ):
        torch.manual_seed(0)
        self.method = methods.build_method(
            "simclr",
            encoder="convnet",
            in_channels=1,
            **{key: net.get(key, DEFAULTS[key]) for key in ENCODER_KEYS},
            temperature=DEFAULTS["temperature"],
        )
        self.channels_last = channels_last
        if channels_last:
            self.method.to(memory_format=torch.channels_last)
        self.method.train()
        self.optimizer = torch.optim.AdamW(
            self.method.parameters(), lr=DEFAULTS["lr"], weight_decay=DEFAULTS["weight_decay"]
        )
        self.aug = augment.batched(view_size, 1)  # views of view_size × view_size
        self.images, self.batch_size, self.amp = images, batch_size, amp
        self.scaler = torch.amp.GradScaler("cpu", enabled=False)  # as fit without float16
        self.checks_values = checks_values  # True: the losses read their inputs' values (not as fit)
        self.loss_fn = torch.compile(self.method) if compile_model else self.method
        self.generator = torch.Generator().manual_seed(0)

    def views(self):
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=self.generator)  # (B,)
        x = to_float(self.images[idx], torch.device("cpu"))  # (B, 1, 28, 28), channels_last
        if not self.channels_last:
            x = x.contiguous()
        return self.aug(x), self.aug(x)

    def step(self) -> None:
        """One training step as ``train.fit`` takes it: ``train_step`` in ``values_checked_by_caller()``."""
        x1, x2 = self.views()
        reads = contextlib.nullcontext() if self.checks_values else values_checked_by_caller()
        with reads:
            train.train_step(self.loss_fn, self.optimizer, self.scaler, x1, x2, None, self.amp)

    def timed_step(self, seconds: dict) -> None:
        """The same step cut into ``PARTS``, each timed with perf_counter (appended to ``seconds[part]``)."""
        marks = [time.perf_counter()]
        x1, x2 = self.views()
        marks.append(time.perf_counter())
        h = self.method.encoder(torch.cat([x1, x2]))  # (2B, 512): both views in one pass, as project_pair
        marks.append(time.perf_counter())
        z = self.method.projector(h)  # (2B, 128)
        marks.append(time.perf_counter())
        with values_checked_by_caller():  # as in fit's steps
            z1, z2 = z[: self.batch_size], z[self.batch_size :]  # (B, 128) each
            loss = losses.nt_xent(z1, z2, temperature=DEFAULTS["temperature"])
        marks.append(time.perf_counter())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        marks.append(time.perf_counter())
        self.optimizer.step()
        marks.append(time.perf_counter())
        for part, start, end in zip(PARTS, marks[:-1], marks[1:]):
            seconds[part].append(end - start)


def breakdown(images, steps: int, warmup: int) -> None:
    """Median (robust to other jobs' bursts on shared cores) and mean ms per part of a step."""
    setup = Setup(images)
    seconds = defaultdict(list)
    for _ in range(warmup):
        setup.timed_step(defaultdict(list))
    for _ in range(steps):
        setup.timed_step(seconds)
    median = {part: statistics.median(seconds[part]) for part in PARTS}
    total = sum(median.values())
    print(f"\nbreakdown (perf_counter, {steps} steps after {warmup} warm-up steps):")
    print(f"{'part':<14}{'median ms':>10}{'share':>8}{'mean ms':>9}")
    for part in PARTS:
        mean = statistics.fmean(seconds[part])
        print(f"{part:<14}{1e3 * median[part]:10.1f}{100 * median[part] / total:7.1f}%{1e3 * mean:9.1f}")
    steps_total = [sum(parts) for parts in zip(*seconds.values())]
    print(f"{'total':<14}{1e3 * total:10.1f}{'':>8}{1e3 * statistics.fmean(steps_total):9.1f}")


def profile(images, steps: int, warmup: int, rows: int = 18) -> None:
    from torch.profiler import ProfilerActivity, record_function
    from torch.profiler import profile as torch_profile

    setup = Setup(images)
    for _ in range(warmup):
        setup.step()
    with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(steps):
            with record_function("augment"):
                x1, x2 = setup.views()
            with record_function("forward + loss"):
                loss = setup.loss_fn(x1, x2)
            setup.optimizer.zero_grad(set_to_none=True)
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                setup.optimizer.step()
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=44)
    print(f"\ntorch.profiler, {steps} steps, operators by self CPU time (all threads):\n{table}")
    convolutions = [e for e in prof.key_averages(group_by_input_shape=True) if "convolution" in e.key]
    convolutions.sort(key=lambda e: -e.self_cpu_time_total)
    print("convolutions by input shape (self CPU ms per step; input, weight):")
    for e in convolutions[:10]:
        shapes = ", ".join(str(tuple(s)) for s in e.input_shapes[:2])
        print(f"  {e.key:<28}{e.self_cpu_time_total / 1e3 / steps:8.1f}  {shapes}")


@contextlib.contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _time_steps(setup: Setup, steps: int) -> list[float]:
    """Seconds of each of ``steps`` steps."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        setup.step()
        times.append(time.perf_counter() - start)
    return times


def lever_setups(images, skip_compile: bool) -> dict:
    """name → (Setup, context manager factory, images per step)."""
    plain = contextlib.nullcontext
    no_onednn = lambda: torch.backends.mkldnn.flags(enabled=False)
    levers = {
        "float32, channels_last (as train.fit)": (Setup(images), plain),
        "channels_last off": (Setup(images, channels_last=False), plain),
        "oneDNN off (torch.backends.mkldnn)": (Setup(images), no_onednn),
        "bfloat16 autocast": (Setup(images, amp=torch.bfloat16), plain),
        "1 torch thread": (Setup(images), one_thread),
        "losses read their inputs' values": (Setup(images, checks_values=True), plain),
        "width 12 (fewer FLOPs)": (Setup(images, width=12), plain),
        "feature_dim 256 (fewer FLOPs)": (Setup(images, feature_dim=256), plain),
        "4th conv 1x1 (fewer FLOPs)": (Setup(images, last_kernel=1), plain),
        "views 28x28 (whole images)": (Setup(images, view_size=28), plain),
        "h 256, stride 1, 28x28 (earlier)": (
            Setup(images, feature_dim=256, last_stride=1, view_size=28),
            plain,
        ),
    }
    for batch_size in (64, 256, 512):
        levers[f"batch {batch_size} (per image)"] = (Setup(images, batch_size=batch_size), plain)
    if not skip_compile:
        levers["torch.compile (inductor)"] = (Setup(images, compile_model=True), plain)
    return levers


def compile_warmup(levers: dict, warmup: int) -> None:
    """Compile (first steps) outside the timed rounds; drop the lever with the reason when it fails."""
    for name in [n for n in levers if "compile" in n]:
        setup, context = levers[name]
        start = time.perf_counter()
        try:
            with context():
                for _ in range(warmup):
                    setup.step()
        except Exception as error:  # inductor without a working C++ compiler, unsupported op, ...
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            print(f"torch.compile failed, measured without it: {type(error).__name__}: {first_line[:200]}")
            del levers[name]
            continue
        seconds = time.perf_counter() - start
        print(f"torch.compile: the first {warmup} steps (compilation included) took {seconds:.1f} s")


def compare_levers(images, steps: int, warmup: int, rounds: int, skip_compile: bool, only=None) -> None:
    levers = lever_setups(images, skip_compile)
    if only:  # the reference and the levers whose name contains one of the given words
        levers = {k: v for i, (k, v) in enumerate(levers.items()) if i == 0 or any(w in k for w in only)}
    compile_warmup(levers, warmup)
    for setup, context in levers.values():
        with context():
            for _ in range(warmup):
                setup.step()
    times = {name: [] for name in levers}
    for _ in range(rounds):
        for name, (setup, context) in levers.items():
            with context():
                times[name] += _time_steps(setup, steps)
    per_image = {name: statistics.median(t) / levers[name][0].batch_size for name, t in times.items()}
    base = per_image["float32, channels_last (as train.fit)"]
    print(f"\nlevers (median step of {rounds} alternating rounds of {steps} steps; ratio = time per image")
    print("relative to the plain step, < 1 is faster):")
    print(f"{'configuration':<40}{'ms/step':>9}{'ms/image':>10}{'ratio':>8}")
    for name, seconds in per_image.items():
        batch = levers[name][0].batch_size
        print(f"{name:<40}{1e3 * seconds * batch:9.1f}{1e3 * seconds:10.3f}{seconds / base:8.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--only", choices=("breakdown", "profile", "levers"), help="run one part only")
    parser.add_argument("--lever", nargs="+", help="measure only the levers whose name contains a word")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    images, source = load_images()
    print(f"machine: {machine_line()}\nimages: {source} {tuple(images.shape)}", flush=True)
    if args.only in (None, "breakdown"):
        breakdown(images, args.steps, args.warmup)
    if args.only in (None, "profile"):
        profile(images, min(args.steps, 10), args.warmup)
    if args.only in (None, "levers"):
        compare_levers(images, args.steps, args.warmup, args.rounds, args.skip_compile, args.lever)
    print(f"\nmachine after: {machine_line()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
