"""``python -m edu_contrast train|evaluate``: train a method, or re-probe a checkpoint.

    python -m edu_contrast train                                   # SimCLR on digits, CPU, < 1 minute
    python -m edu_contrast train --method simclr --dataset fashion-mnist --out runs/fm
    python -m edu_contrast train --out runs/fm --resume            # continue after an interruption
    python -m edu_contrast evaluate runs/fm
    torchrun --nproc_per_node=2 -m edu_contrast train ...          # DistributedDataParallel

Defaults depend on the dataset (``DATASET_DEFAULTS``) and need no download and no GPU for digits.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from edu_contrast import augment, data, distributed, methods, train
from edu_contrast.train import CorruptCheckpointError, ResumeMismatchError

METHOD_NAMES = ("simclr", "moco", "byol", "supcon", "vicreg")
DATASET_NAMES = ("digits", "fashion-mnist", "cifar10")
TEMPERATURE_METHODS = {"simclr", "moco", "supcon"}

# Tuned so that each default run is short on its usual machine (2 CPU cores for digits and
# Fashion-MNIST, a Colab GPU for CIFAR-10); see docs/benchmarks.md.
DATASET_DEFAULTS = {
    "digits": {"encoder": "convnet", "width": 32, "feature_dim": 128, "epochs": 20, "batch_size": 256,
               "lr": 2e-3, "samples_per_epoch": None},
    "fashion-mnist": {"encoder": "convnet", "width": 16, "feature_dim": 256, "epochs": 6, "batch_size": 128,
                      "lr": 3e-3, "samples_per_epoch": None},
    "cifar10": {"encoder": "resnet18", "width": None, "feature_dim": None, "epochs": 100, "batch_size": 512,
                "lr": 2e-3, "samples_per_epoch": None},
}  # fmt: skip
METHOD_DEFAULTS = {
    "simclr": {"temperature": 0.2},
    "moco": {"temperature": 0.2},
    "supcon": {"temperature": 0.1},
    "byol": {},
    "vicreg": {},
}


def number(kind: type, bound: str):
    """An argparse ``type``: the text as ``kind`` (int or float), finite and satisfying ``bound``.

    ``bound`` is an operator and a number (``"> 0"``, ``">= 2"``); a bad value gives argparse's
    own error, "argument --lr: expected a number > 0, got '0'". The one converter of this CLI.
    """
    op, limit = bound.split()
    noun = "an integer" if kind is int else "a number"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not (value > kind(limit) if op == ">" else value >= kind(limit)):
            raise argparse.ArgumentTypeError(f"expected {noun} {bound}, got {text!r}")
        return value

    convert.__name__ = f"{noun} {bound}"  # what argparse says if it ever names the type
    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edu_contrast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate}")

    train_cmd = commands.add_parser(
        "train", help="train a method; writes OUT/checkpoint.pt and OUT/metrics.json"
    )
    train_cmd.add_argument("--method", choices=METHOD_NAMES, default="simclr")
    train_cmd.add_argument("--dataset", choices=DATASET_NAMES, default="digits")
    train_cmd.add_argument(
        "--encoder", choices=("convnet", "resnet18", "resnet50"), help="default: per dataset"
    )
    train_cmd.add_argument("--width", type=number(int, ">= 1"), help="channel width of the convnet encoder")
    train_cmd.add_argument(
        "--feature-dim", type=number(int, ">= 1"), help="size of h, the convnet encoder's output"
    )
    train_cmd.add_argument(
        "--epochs", type=number(int, ">= 0"), help="total epochs (also the target of --resume)"
    )
    train_cmd.add_argument("--batch-size", type=number(int, ">= 2"))
    train_cmd.add_argument("--lr", type=number(float, "> 0"), help="peak AdamW learning rate")
    train_cmd.add_argument("--weight-decay", type=number(float, ">= 0"), default=1e-4)
    train_cmd.add_argument("--warmup-epochs", type=number(float, ">= 0"), help="default: 10%% of the epochs")
    train_cmd.add_argument("--temperature", type=number(float, "> 0"), help="τ (simclr, moco, supcon)")
    train_cmd.add_argument(
        "--samples-per-epoch", type=number(int, ">= 2"), help="random training images per epoch"
    )
    train_cmd.add_argument(
        "--augment",
        choices=("default", "weak", "strong"),
        default="default",
        help="augmentation preset (default: tuned to the image size)",
    )
    train_cmd.add_argument("--seed", type=number(int, ">= 0"), default=0)
    train_cmd.add_argument("--out", type=Path, help="output directory (default: runs/METHOD-DATASET)")
    train_cmd.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt up to --epochs")
    train_cmd.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    train_cmd.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default="auto",
        help="mixed precision (auto: on CUDA, and bfloat16 on CPUs with AMX; off: float32)",
    )
    train_cmd.add_argument("--data-root", type=Path, help="where datasets are found or downloaded")
    train_cmd.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")

    evaluate_cmd = commands.add_parser("evaluate", help="re-probe a checkpoint (linear and kNN accuracy)")
    evaluate_cmd.add_argument("run", type=Path, help="run directory (or its checkpoint.pt)")
    evaluate_cmd.add_argument("--device")
    evaluate_cmd.add_argument("--data-root", type=Path)
    return parser


def _settings(args, parser) -> dict:
    """The command-line values, with the dataset's and method's defaults filled in."""
    if args.temperature is not None and args.method not in TEMPERATURE_METHODS:
        parser.error(
            f"argument --temperature: {args.method} has no temperature "
            f"(only {', '.join(sorted(TEMPERATURE_METHODS))} do)"
        )
    settings = {**DATASET_DEFAULTS[args.dataset], **METHOD_DEFAULTS[args.method]}
    keys = (
        "encoder",
        "width",
        "feature_dim",
        "epochs",
        "batch_size",
        "lr",
        "temperature",
        "samples_per_epoch",
    )
    for key in keys:
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    if settings["encoder"] != "convnet":
        for flag, key in (("--width", "width"), ("--feature-dim", "feature_dim")):
            if getattr(args, key) is not None:
                parser.error(
                    f"argument {flag}: only the convnet encoder has a {key.replace('_', ' ')} "
                    f"(got --encoder {settings['encoder']})"
                )
            settings[key] = None
    return settings


def _train(args, parser) -> int:
    settings = _settings(args, parser)
    device = distributed.init_from_env() if distributed.launched_by_torchrun() else args.device
    main_process = distributed.rank() == 0
    try:
        train_data = data.load_dataset(args.dataset, "train", root=args.data_root)
        test_data = data.load_dataset(args.dataset, "test", root=args.data_root)
        torch.manual_seed(args.seed)  # the encoder's initial weights
        hyper = {"temperature": settings["temperature"]} if args.method in TEMPERATURE_METHODS else {}
        method = methods.build_method(
            args.method,
            encoder=settings["encoder"],
            in_channels=train_data.channels,
            width=settings["width"],
            feature_dim=settings["feature_dim"],
            **hyper,
        )
        config = None
        if args.augment != "default":
            config = getattr(augment.AugmentConfig, args.augment)()
        out = args.out or Path("runs") / f"{args.method}-{args.dataset}"
        result = train.fit(
            method,
            train_data,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            lr=settings["lr"],
            weight_decay=args.weight_decay,
            warmup_epochs=args.warmup_epochs,
            augment_config=config,
            eval_data=test_data,
            out_dir=out,
            resume=args.resume,
            seed=args.seed,
            device=device,
            progress=not args.no_progress,
            samples_per_epoch=settings["samples_per_epoch"],
            amp=args.amp,
            config={"dataset": args.dataset},
        )
        if main_process:
            print(summary(result, args.method, args.dataset, out))
    finally:
        distributed.cleanup()
    return 0


SUMMARY_COLUMNS = (  # history key, header, format: one row per epoch
    ("epoch", "epoch", "{:>5}"),
    ("loss", "loss", "{:>8.4f}"),
    ("knn_accuracy", "kNN acc", "{:>8.4f}"),
    ("alignment", "align", "{:>7.3f}"),
    ("uniformity", "unif", "{:>7.3f}"),
    ("positive_cosine", "pos cos", "{:>8.3f}"),
    ("erank_z", "erank z", "{:>8.1f}"),
    ("erank_h", "erank h", "{:>8.1f}"),
    ("seconds", "seconds", "{:>8.1f}"),
)


def summary(result: dict, method: str, dataset: str, out: Path) -> str:
    """One screen: the per-epoch table (at most 12 rows), the linear-probe accuracy, the files.

    The columns are ``fit``'s history keys (``train.monitor``): alignment, uniformity, positive cosine and
    the effective ranks of z and h come from ``measure.embedding_report`` on the monitor's test images.
    """
    history = result["history"]
    rows = history if len(history) <= 12 else history[:1] + history[len(history) - 11 :]
    widths = [len(fmt.format(0)) for _, _, fmt in SUMMARY_COLUMNS]
    header = " ".join(f"{title:>{w}}" for (_, title, _), w in zip(SUMMARY_COLUMNS, widths))
    lines = [f"{method} on {dataset}", header]
    lines += [" ".join(fmt.format(h[key]) for key, _, fmt in SUMMARY_COLUMNS) for h in rows]
    total = sum(h["seconds"] for h in history)
    lines.append(
        f"linear-probe accuracy (encoder features): {result['linear_accuracy']:.4f}   "
        f"total {total:.0f} s over {len(history) - 1} epochs"
    )
    lines.append(f"wrote {out / train.CHECKPOINT_NAME} and {out / train.METRICS_NAME}")
    return "\n".join(lines)


def _evaluate(args, parser) -> int:
    path = args.run
    if not path.exists():
        parser.error(f"argument run: {path} does not exist (give the --out directory of a training run)")
    result = train.evaluate(path, device=args.device, root=args.data_root)
    print(
        f"{path}: epoch {result['epoch']}  linear-probe accuracy {result['linear_accuracy']:.4f}  "
        f"kNN accuracy {result['knn_accuracy']:.4f}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _train(args, parser) if args.command == "train" else _evaluate(args, parser)
    except (CorruptCheckpointError, ResumeMismatchError, FileNotFoundError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
