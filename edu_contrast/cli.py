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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edu_contrast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate}")

    train = commands.add_parser("train", help="train a method; writes OUT/checkpoint.pt and OUT/metrics.json")
    train.add_argument("--method", choices=METHOD_NAMES, default="simclr")
    train.add_argument("--dataset", choices=DATASET_NAMES, default="digits")
    train.add_argument("--encoder", choices=("convnet", "resnet18", "resnet50"), help="default: per dataset")
    train.add_argument("--width", type=_positive_int, help="channel width of the convnet encoder")
    train.add_argument("--feature-dim", type=_positive_int, help="size of h, the convnet encoder's output")
    train.add_argument("--epochs", type=_non_negative_int, help="total epochs (also the target of --resume)")
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--lr", type=_positive_float, help="peak AdamW learning rate")
    train.add_argument("--weight-decay", type=float, default=1e-4)
    train.add_argument("--warmup-epochs", type=float, help="default: 10%% of the epochs")
    train.add_argument("--temperature", type=_positive_float, help="τ (simclr, moco, supcon)")
    train.add_argument("--samples-per-epoch", type=_positive_int, help="random training images per epoch")
    train.add_argument(
        "--augment",
        choices=("default", "weak", "strong"),
        default="default",
        help="augmentation preset (default: tuned to the image size)",
    )
    train.add_argument("--seed", type=_non_negative_int, default=0)
    train.add_argument("--out", type=Path, help="output directory (default: runs/METHOD-DATASET)")
    train.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt up to --epochs")
    train.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when available)")
    train.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default="auto",
        help="mixed precision (auto: on CUDA, and bfloat16 on CPUs with AMX; off: float32)",
    )
    train.add_argument("--data-root", type=Path, help="where datasets are found or downloaded")
    train.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")

    evaluate = commands.add_parser("evaluate", help="re-probe a checkpoint (linear and kNN accuracy)")
    evaluate.add_argument("run", type=Path, help="run directory (or its checkpoint.pt)")
    evaluate.add_argument("--device")
    evaluate.add_argument("--data-root", type=Path)
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
    import torch

    from edu_contrast import augment, data, distributed, methods, train

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


def summary(result: dict, method: str, dataset: str, out: Path) -> str:
    """One screen: the per-epoch table (at most 12 rows), the linear-probe accuracy, the files."""
    history = result["history"]
    rows = history if len(history) <= 12 else history[:1] + history[len(history) - 11 :]
    lines = [
        f"{method} on {dataset}",
        f"{'epoch':>5} {'loss':>8} {'kNN acc':>8} {'pos cos':>8} {'eff rank':>9} {'seconds':>8}",
    ]
    for h in rows:
        lines.append(
            f"{h['epoch']:>5} {h['loss']:>8.4f} {h['knn_accuracy']:>8.4f} {h['positive_cosine']:>8.3f} "
            f"{h['effective_rank']:>9.1f} {h['seconds']:>8.1f}"
        )
    total = sum(h["seconds"] for h in history)
    lines.append(
        f"linear-probe accuracy (encoder features): {result['linear_accuracy']:.4f}   "
        f"total {total:.0f} s over {len(history) - 1} epochs"
    )
    lines.append(f"wrote {out / 'checkpoint.pt'} and {out / 'metrics.json'}")
    return "\n".join(lines)


def _evaluate(args, parser) -> int:
    from edu_contrast import train

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
    from edu_contrast.train import CorruptCheckpointError, ResumeMismatchError

    try:
        return _train(args, parser) if args.command == "train" else _evaluate(args, parser)
    except (CorruptCheckpointError, ResumeMismatchError, FileNotFoundError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
