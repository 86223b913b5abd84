"""SimCLR on a CUDA GPU: the training step's variants, 09's two recipes, every notebook's full mode, kNN.

    python benchmarks/bench_gpu.py                      # a CUDA GPU: ≤ 10 min on an H100, writes JSON
    python benchmarks/bench_gpu.py --device cpu --tiny  # a CPU, seconds: checks the script, measures nothing

Four measurements, each with the code ``train.fit`` runs (``train.two_views`` + ``train.train_step``, the
losses reading no value: no device sync per step):
  1. step:      ResNet-18, batch 512 (CIFAR-10's ``train.dataset_defaults``): the model step on fixed views
                vs the full step with ``augment.batched`` views, for bfloat16 / float16 autocast ×
                channels_last off / on, and ``torch.compile`` on for the first precision with channels_last;
  2. recipes:   09's RECIPES ("fast", "reference"): full steps at their batch and 𝒯, × steps per epoch;
  3. notebooks: each notebook's full-mode runs as ``tools/full_mode_costs.py`` lists them (a few steps of
                each run's network at its batch and image size) × its optimiser steps, beside
                ``edu_contrast.budget``'s projection for this GPU;
  4. knn:       ``train.fit`` of 09's "fast" recipe for ``--knn-epochs`` epochs on CIFAR-10 (``--data-root``;
                offline without it: the fake CIFAR-10, labelled so): kNN accuracy and seconds per epoch.
Everything goes to ``--out`` (JSON) with the card, torch and CUDA versions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from edu_contrast import augment, budget, data, methods, train
from edu_contrast._validation import values_checked_by_caller
from edu_contrast.lessons import infonce, simclr_cifar10

ROOT = Path(__file__).resolve().parents[1]
NO_CUDA = (
    "bench_gpu.py measures a CUDA GPU and none is available here: run it on a GPU machine (e.g. Colab), "
    "or `--device cpu --tiny` for a quick check that the script works."
)


def _timed(fn, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` after ``warmup`` calls (the GPU synchronised around the timing)."""
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


class Stepper:
    """fit's training step of ``method`` on uint8 images ``(n, C, S, S)`` on the device, views by ``aug``."""

    def __init__(self, method, images, aug, batch, amp, *, channels_last=True, compile_backend=None):
        device = images.device
        self.method, self.images, self.batch = method.to(device), images, batch
        self.labels = torch.zeros(len(images), dtype=torch.long, device=device)
        self.aug, self.amp_dtype = aug.to(device), train.autocast_dtype(amp, device)
        if channels_last:
            self.method.to(memory_format=torch.channels_last)
        self.model = torch.compile(self.method, backend=compile_backend) if compile_backend else self.method
        self.optimizer = torch.optim.AdamW(self.method.parameters(), lr=3e-4, weight_decay=1e-4)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.fixed = self.views()

    def views(self):
        idx = torch.randint(0, len(self.images), (self.batch,), device=self.images.device)  # (B,)
        return train.two_views(self.images, self.labels, idx, self.aug)

    def model_step(self):
        with values_checked_by_caller():
            return train.train_step(self.model, self.optimizer, self.scaler, *self.fixed, self.amp_dtype)

    def full_step(self):
        views = self.views()
        with values_checked_by_caller():
            return train.train_step(self.model, self.optimizer, self.scaler, *views, self.amp_dtype)


def _images(n, channels, side, device) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, device=device)  # (n, C, S, S)


def bench_step(args, device) -> list[dict]:
    """1. model vs full step per precision × channels_last, and torch.compile once."""
    encoder, batch = ("convnet", 8) if args.tiny else ("resnet18", 512)
    precisions = ["off"] if device.type == "cpu" else ["fp16"]
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 8:
        precisions.insert(0, "bf16")  # bfloat16 hardware: A100, H100 (a T4 would emulate it)
    variants = [(amp, layout, None) for amp in precisions for layout in (False, True)]
    variants.append((precisions[0], True, args.compile_backend))
    images, rows = _images(64 if args.tiny else 50_000, 3, 32, device), []
    for amp, channels_last, backend in variants:
        torch.manual_seed(0)
        method = methods.build_method("simclr", encoder=encoder, in_channels=3, **_tiny_width(args))
        stepper = Stepper(method, images, augment.batched(32, 3), batch, amp, channels_last=channels_last,
                          compile_backend=backend)  # fmt: skip
        start = time.perf_counter()
        warmup = args.warmup + (2 if backend else 0)  # compiling happens in the first calls
        model = _timed(stepper.model_step, args.steps, warmup, device)
        full = _timed(stepper.full_step, args.steps, args.warmup, device)
        row = dict(encoder=encoder, batch=batch, amp=amp, channels_last=channels_last, compile=backend,
                   model_ms=1000 * model, full_ms=1000 * full, full_images_per_s=batch / full,
                   full_over_model=full / model, wall_s=time.perf_counter() - start)  # fmt: skip
        ms = f"model {row['model_ms']:.1f} ms, full {row['full_ms']:.1f} ms ({row['full_over_model']:.2f}×)"
        print(f"step {amp:>4} channels_last={channels_last!s:5} compile={backend!s:8}: {ms}")
        rows.append(row)
    return rows


def _tiny_width(args) -> dict:
    return {"width": 8} if args.tiny else {}


def _step_seconds(spec: dict, args, device) -> float:
    """Seconds of one full training step of a ``tools/full_mode_costs.py`` run ``spec``."""
    batch = min(spec["batch"], 8) if args.tiny else spec["batch"]
    torch.manual_seed(0)
    if spec["kind"] == "critic":  # 01: InfoNCE on the N × N scores of a SeparableCritic
        critic = infonce.SeparableCritic(spec["dim"]).to(device)
        optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3)
        x, target = torch.randn(batch, spec["dim"], device=device), torch.arange(batch, device=device)

        def step():
            loss = F.cross_entropy(critic(x, x), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return _timed(step, args.steps, args.warmup, device)
    options = {k: v for k, v in spec.items() if k not in ("kind", "channels", "side", "batch", "encoder")}
    encoder = "convnet" if args.tiny else spec["encoder"]
    if args.tiny:
        options["width"] = 4
    method = methods.build_method("simclr", encoder=encoder, in_channels=spec["channels"], **options)
    images = _images(max(4 * batch, 64), spec["channels"], spec["side"], device)
    extra = spec["channels"] - 1 if spec["channels"] not in (1, 3) else 0  # 05's RandBit: 1 + k channels
    aug = augment.batched(spec["side"], spec["channels"], protected_channels=extra)
    stepper = Stepper(method, images, aug, batch, "auto", channels_last=device.type == "cuda")
    return _timed(stepper.full_step, args.steps, args.warmup, device)


def _costs_tool():
    spec = importlib.util.spec_from_file_location("full_mode_costs", ROOT / "tools" / "full_mode_costs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def bench_notebooks(args, device, gpu_name: str) -> dict:
    """2 and 3: a few steps of every run of every notebook's full mode (and 09's reference recipe)."""
    tool = _costs_tool()
    runs_of = tool.notebook_runs() | tool.recipe_runs()
    results = {}
    for stem, runs in runs_of.items():
        if args.notebooks and stem not in args.notebooks:
            continue
        if time.perf_counter() > args.notebooks_deadline:  # keep the whole run within --max-minutes
            results[stem] = {"skipped": f"--max-minutes {args.max_minutes}: no time left"}
            print(f"{stem}: skipped (no time left within --max-minutes {args.max_minutes})")
            continue
        start, seconds, per_run = time.perf_counter(), 0.0, []
        for r in runs:
            if r.spec is None:  # a run the tool costs without naming its step: not timed, and said so
                per_run.append(dict(spec=None, steps=r.steps, count=r.count, step_ms=None))
                continue
            step = _step_seconds(r.spec, args, device)
            seconds += step * r.steps * r.count
            per_run.append(dict(spec=r.spec, steps=r.steps, count=r.count, step_ms=1000 * step))
        projected = budget.plan_full_mode(stem, gpu_name).seconds if gpu_name else None
        results[stem] = dict(extrapolated_s=seconds, budget_projection_s=projected, runs=per_run,
                             wall_s=time.perf_counter() - start)  # fmt: skip
        print(f"{stem}: {budget.format_duration(seconds)} extrapolated from {args.steps} timed steps per run"
              + (f" (cost model: {budget.format_duration(projected)})" if projected else ""))  # fmt: skip
    return results


def bench_recipes(args, device) -> dict:
    """2. 09's two recipes: seconds per epoch of 50 000 images at their batch, encoder and 𝒯."""
    results = {}
    for name, recipe in simclr_cifar10.RECIPES.items():
        batch = 8 if args.tiny else recipe.batch_size
        torch.manual_seed(0)
        method = recipe.make_method() if not args.tiny else methods.build_method("simclr", width=8)
        images = _images(64 if args.tiny else 50_000, 3, 32, device)
        stepper = Stepper(method, images, augment.batched(32, 3, recipe.augment_config), batch, "auto",
                          channels_last=device.type == "cuda")  # fmt: skip
        step = _timed(stepper.full_step, args.steps, args.warmup, device)
        epoch = step * (50_000 // batch)
        results[name] = dict(encoder=recipe.encoder, batch=batch, step_ms=1000 * step, epoch_s=epoch,
                             epochs=recipe.epochs, run_s=epoch * recipe.epochs)  # fmt: skip
        print(
            f"recipe {name}: {1000 * step:.1f} ms/step, {epoch:.1f} s/epoch, "
            f"{budget.format_duration(epoch * recipe.epochs)} for {recipe.epochs} epochs"
        )
    return results


def bench_knn(args, device) -> dict:
    """4. ``fit`` of 09's "fast" recipe for ``--knn-epochs`` epochs: kNN accuracy and seconds per epoch."""
    fast = simclr_cifar10.RECIPES["fast"]
    try:
        if args.tiny or args.data_root is None:
            raise FileNotFoundError("no --data-root")
        splits = [data.load_dataset("cifar10", s, root=args.data_root) for s in ("train", "test")]
        dataset = "CIFAR-10"
    except Exception as error:  # offline: the genuine file format, fake pictures (not CIFAR-10)
        root = data.make_fake_cifar10(tempfile.mkdtemp(), n_train=256 if args.tiny else 10_000, n_test=128)
        splits = [data.load_dataset("cifar10", s, root=root) for s in ("train", "test")]
        dataset = f"fake CIFAR-10 (coloured shapes, not CIFAR-10: {error})"
    torch.manual_seed(0)
    method = methods.build_method("simclr", width=8) if args.tiny else fast.make_method()
    settings = fast.fit_settings() | {"batch_size": 32 if args.tiny else fast.batch_size}
    result = train.fit(method, splits[0], epochs=args.knn_epochs, eval_data=splits[1], device=device,
                       progress=False, **settings)  # fmt: skip
    history = result["history"]
    print(f"knn after {args.knn_epochs} epochs ({dataset}): {history[-1]['knn_accuracy']:.3f}")
    return dict(dataset=dataset, epochs=args.knn_epochs, knn_accuracy=[h["knn_accuracy"] for h in history],
                epoch_s=[h["seconds"] for h in history[1:]], linear_accuracy=result["linear_accuracy"],
                precision=result["precision"])  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny networks and batches: checks the script")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--compile-backend", default=None, help="torch.compile's (inductor; tiny: eager)")
    parser.add_argument("--notebooks", nargs="*", default=None, help="stems to time (default: all)")
    parser.add_argument("--knn-epochs", type=int, default=None)
    parser.add_argument("--data-root", default=None, help="a folder with cifar-10-batches-py")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_gpu.json"))
    parser.add_argument("--max-minutes", type=float, default=9.0, help="notebooks not timed by then: skipped")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA, file=sys.stderr)
        return 2
    args.steps = args.steps or (1 if args.tiny else 10)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.tiny else 5)
    args.compile_backend = args.compile_backend or ("eager" if args.tiny else "inductor")
    args.knn_epochs = args.knn_epochs or (1 if args.tiny else 3)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    gpu_name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    start = time.perf_counter()
    args.notebooks_deadline = start + 0.7 * 60 * args.max_minutes  # the kNN run comes after the notebooks
    report = dict(device=gpu_name or "CPU (--tiny: checks the script, not a benchmark)", tiny=args.tiny,
                  torch=torch.__version__, cuda=torch.version.cuda, date=time.strftime("%Y-%m-%d %H:%M"),
                  command=" ".join(sys.argv))  # fmt: skip
    report["step"] = bench_step(args, device)
    report["recipes"] = bench_recipes(args, device)
    report["notebooks"] = bench_notebooks(args, device, gpu_name)
    report["knn"] = bench_knn(args, device)
    report["wall_s"] = time.perf_counter() - start
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"{report['device']}: {report['wall_s']:.0f} s in all → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
