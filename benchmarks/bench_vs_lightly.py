"""The default CLI SimCLR run on Fashion-MNIST against lightly's SimCLR pipeline, at the same wall time.

    .venv/bin/pip install -e ".[bench]"                                      # lightly (benchmark only)
    .venv/bin/python benchmarks/bench_vs_lightly.py                          # the target comparison
    .venv/bin/python benchmarks/bench_vs_lightly.py --budget-seconds 60 --max-images 10000 -- --epochs 1

1. ``python -m edu_contrast train --method simclr --dataset fashion-mnist --device cpu`` in a fresh
   process (the dataset defaults of ``train.defaults.DATASET_DEFAULTS``: SmallConvNet width 16, h of size 512,
   3×3 last convolution at stride 2, 3 epochs, batch 128, τ = 0.2, AdamW 3·10⁻³, batched augmentation in
   the training process, views of 20×20; arguments after ``--`` are added), timed from process start to
   exit; its accuracy is its own final probe, ``probes.linear_probe`` on h of all 60 000 train / 10 000
   test images.
2. lightly's pipeline on the same data with the same encoder: ``lightly.transforms.SimCLRTransform`` per
   PIL image in a 2-worker ``DataLoader`` (set to the CLI's recipe: crop scale (0.2, 1) resized to the
   CLI's view side, flip 0.5, jitter 0.4/0.4/0.4/0.1 with p 0.8, grayscale 0.2, no blur, no
   normalisation), its ``SimCLRProjectionHead(size of h, 512, 128)`` and ``NTXentLoss(temperature=0.2)``,
   one forward pass per view as in lightly's example, AdamW 3·10⁻³ with 10% warm-up + cosine over the
   *time* budget.
   It trains for the budget — the CLI run's wall time, or ``--budget-seconds`` — counted from the
   start of its data loading; then h of all train / test images is probed the same way (timed apart).
   This favours lightly: it has no per-epoch monitoring, and its probe comes on top of the budget.
3. For reference, lightly's encoder probed again after the CLI's last step before its probe (``train.fit``'s
   ``calibrate_bn``: BatchNorm statistics re-estimated on the same 10 000 clean training images), which
   says how much of the difference that step is. The lead printed last is pipeline against pipeline.

Both use the precision ``train.precision.autocast_dtype("auto", cpu)`` picks (bfloat16 on AMX CPUs,
float32 elsewhere), printed with the machine. ``--max-images N`` gives both N random images per epoch
(the CLI's ``--samples-per-epoch``) for a short smoke run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from edu_contrast import data, measure, models, probes
from edu_contrast.train import FitConfig, monitor
from edu_contrast.train.defaults import DATASET_DEFAULTS, ENCODER_KEYS, dataset_defaults
from edu_contrast.train.precision import autocast_dtype
from edu_contrast.utils import autocast

try:
    from bench_probe import machine_line
except ImportError:  # run from another folder
    from benchmarks.bench_probe import machine_line

# The CLI's own Fashion-MNIST defaults, so lightly gets the same encoder and hyperparameters.
SETTINGS = {**DATASET_DEFAULTS["fashion-mnist"], "weight_decay": FitConfig.weight_decay,
            "tau": dataset_defaults("fashion-mnist", "simclr").method["temperature"]}  # fmt: skip


def run_cli(seed: int, max_images: int | None, extra: list[str]) -> dict:
    """The default CLI run in a fresh process: wall seconds, its linear-probe accuracy, epochs."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "edu_contrast", "train", "--method", "simclr"]
        command += ["--dataset", "fashion-mnist", "--device", "cpu", "--no-progress", "--seed", str(seed)]
        command += ["--out", out] + (["--samples-per-epoch", str(max_images)] if max_images else []) + extra
        print("CLI command:", " ".join(command[1:]).replace(out, "OUT"), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    history = metrics["history"]
    return {"seconds": seconds, "accuracy": metrics["linear_accuracy"], "epochs": len(history) - 1}


class PILViews(torch.utils.data.Dataset):
    """``(views, label)`` of uint8 images (N, 1, H, W): each image as a PIL image through ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i, 0].numpy())), int(self.labels[i])


class LightlySimCLR(nn.Module):
    """The same encoder f (SmallConvNet) with lightly's projection head g; ``embed`` for the probe."""

    def __init__(self):
        from lightly.models.modules import SimCLRProjectionHead

        super().__init__()
        self.encoder = models.SmallConvNet(1, **{key: SETTINGS[key] for key in ENCODER_KEYS[1:]})
        self.head = SimCLRProjectionHead(SETTINGS["feature_dim"], 512, 128)

    def forward(self, x):
        return self.head(self.encoder(x))

    def embed(self, x):
        return self.encoder(x)


def lightly_loader(train, max_images: int | None, seed: int):
    """lightly's SimCLRTransform (the CLI's recipe) per PIL image, in a 2-worker DataLoader."""
    from lightly.transforms import SimCLRTransform

    # cj_strength 0.5 × (0.8, 0.8, 0.8, 0.2) = jitter 0.4/0.4/0.4/0.1, as augment.AugmentConfig()
    transform = SimCLRTransform(
        input_size=SETTINGS["view_size"] or train.size, cj_prob=0.8, cj_strength=0.5, min_scale=0.2,
        random_gray_scale=0.2, gaussian_blur=0.0, hf_prob=0.5, normalize=None,
    )  # fmt: skip
    dataset = PILViews(train.images, train.labels, transform)
    sampler = torch.utils.data.RandomSampler(
        dataset, num_samples=max_images or len(dataset), generator=torch.Generator().manual_seed(seed)
    )
    return torch.utils.data.DataLoader(
        dataset, batch_size=SETTINGS["batch_size"], sampler=sampler, drop_last=True, num_workers=2,
        persistent_workers=True,
    )  # fmt: skip


def time_schedule(fraction: float) -> float:
    """lr factor at ``fraction`` of the time budget: 10% linear warm-up, then cosine to 0."""
    if fraction < 0.1:
        return fraction / 0.1
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (fraction - 0.1) / 0.9)))


def train_lightly(train, budget: float, amp_dtype, max_images: int | None, seed: int):
    """Train for ``budget`` seconds (data loading included); returns (model, seconds, steps)."""
    from lightly.loss import NTXentLoss

    start = time.perf_counter()
    torch.manual_seed(seed)
    model = LightlySimCLR()
    criterion = NTXentLoss(temperature=SETTINGS["tau"])
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=SETTINGS["lr"], weight_decay=SETTINGS["weight_decay"]
    )
    loader = lightly_loader(train, max_images, seed)
    steps = 0
    model.train()
    while time.perf_counter() - start < budget:
        for (x0, x1), _ in loader:
            fraction = (time.perf_counter() - start) / budget
            if fraction >= 1:
                break
            for group in optimizer.param_groups:
                group["lr"] = SETTINGS["lr"] * time_schedule(fraction)
            with autocast(torch.device("cpu"), amp_dtype):
                z0, z1 = model(x0), model(x1)  # one pass per view, as lightly's SimCLR example
            loss = criterion(z0.float(), z1.float())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            steps += 1
    seconds = time.perf_counter() - start
    del loader  # stops the workers
    return model, seconds, steps


def probe(model, train, test, amp_dtype) -> tuple[float, float]:
    """(accuracy, seconds) of ``probes.linear_probe`` on h of all train / test images."""
    start = time.perf_counter()
    h_train = measure.embed(model, train.images, amp_dtype=amp_dtype)  # (60000, 256)
    h_test = measure.embed(model, test.images, amp_dtype=amp_dtype)  # (10000, 256)
    accuracy = probes.linear_probe(h_train, train.labels, h_test, test.labels)
    return accuracy, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-seconds", type=float, help="lightly's budget (default: the CLI run's time)")
    parser.add_argument("--max-images", type=int, help="random training images per epoch, both pipelines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("cli_args", nargs="*", help="more arguments for the CLI run (after --)")
    args = parser.parse_args(argv)
    amp_dtype = autocast_dtype("auto", torch.device("cpu"))
    path = "bfloat16 autocast (AMX)" if amp_dtype == torch.bfloat16 else "float32 (no AMX)"
    print(f"machine: {machine_line()}\nprecision path (both): {path}", flush=True)

    cli = run_cli(args.seed, args.max_images, args.cli_args)
    print(f"edu_contrast CLI: accuracy {cli['accuracy']:.4f} in {cli['seconds']:.0f} s (process start "
          f"to exit, {cli['epochs']} epochs, monitoring and probe included)", flush=True)  # fmt: skip

    budget = args.budget_seconds or cli["seconds"]
    train = data.load_dataset("fashion-mnist", "train", download=False)
    test = data.load_dataset("fashion-mnist", "test", download=False)
    model, seconds, steps = train_lightly(train, budget, amp_dtype, args.max_images, args.seed)
    accuracy, probe_seconds = probe(model, train, test, amp_dtype)
    per_epoch = args.max_images or len(train.labels)
    print(f"lightly pipeline: accuracy {accuracy:.4f}; trained {seconds:.0f} s (budget {budget:.0f} s, "
          f"{steps} steps = {steps * SETTINGS['batch_size'] / per_epoch:.2f} epochs of {per_epoch} images), "
          f"then embedding + probe {probe_seconds:.0f} s")  # fmt: skip
    # the 10 000 clean training images fit calibrates on (calibrate_bn): (10000, 1, 28, 28)
    split = monitor.split_for_eval(train, test, args.seed)
    sizes = FitConfig.knn_train_size, FitConfig.knn_test_size  # fit's monitor subset
    watched = monitor.monitor_subset(split, *sizes, args.seed).train_images
    with autocast(torch.device("cpu"), amp_dtype):
        measure.calibrate_batchnorm(model, watched)
    calibrated, _ = probe(model, train, test, amp_dtype)
    print(f"lightly's encoder after the CLI's BatchNorm calibration (reference): accuracy {calibrated:.4f}")
    print(f"machine after: {machine_line()}")
    print(f"CLI − lightly: {100 * (cli['accuracy'] - accuracy):+.2f} points at {cli['seconds']:.0f} s vs "
          f"{seconds + probe_seconds:.0f} s (lightly's training + probe)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
