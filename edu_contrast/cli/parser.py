"""The command line's flags, their help, the per-dataset defaults, and the one number converter.

Flags that ``--resume`` may take from the checkpoint default to None here, so that the command knows
which ones were given; their real defaults (``DATASET_DEFAULTS`` and ``METHOD_DEFAULTS``, written once
in ``train.defaults``; ``DEFAULTS``, whose fit settings are ``FitConfig``'s) are filled in by
``commands.settings`` and shown by ``--help``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import operator
from pathlib import Path

from edu_contrast._version import __version__
from edu_contrast.train.config import FitConfig
from edu_contrast.train.defaults import DATASET_DEFAULTS, ENCODER_KEYS, METHOD_DEFAULTS

PROG = "python -m edu_contrast"
METHOD_NAMES = ("simclr", "moco", "byol", "supcon", "vicreg")
DATASET_NAMES = ("digits", "fashion-mnist", "cifar10")
AUGMENT_PRESETS = ("default", "weak", "strong")
TEMPERATURE_METHODS = {"simclr", "moco", "supcon"}
NEGATIVES_METHODS = {"simclr"}  # τ⁺ and β: debiased / hard-negative NT-Xent
SCENES_SEED = 1000  # gallery --clip: held-out scenes (training draws data.Scenes(n, seed=0))
COMPARE = {">": operator.gt, ">=": operator.ge, "<": operator.lt}  # number()'s bounds

CONVNET_KEYS = ENCODER_KEYS  # encoder, width, feature_dim, last_kernel, last_stride: kept in method.spec
FIT_FIELDS = {field.name: field.default for field in dataclasses.fields(FitConfig)}
DEFAULTS = {"method": "simclr", "dataset": "digits", "augment": "default",
            **{key: FIT_FIELDS[key] for key in ("weight_decay", "seed", "amp")}}  # fmt: skip

DESCRIPTION = "Train a contrastive method on images, or re-probe the checkpoint of a trained one."
EXAMPLES = f"""examples:
  SimCLR on digits, on a CPU, in about a minute:
    {PROG} train
  Fashion-MNIST, into a folder of your choice:
    {PROG} train --dataset fashion-mnist --out runs/fm
  continue an interrupted run, with the settings stored in its checkpoint:
    {PROG} train --out runs/fm --resume
  train that run on to 12 epochs (the learning-rate schedule is re-planned):
    {PROG} train --out runs/fm --resume --epochs 12
  start runs/fm over (the old run stays as checkpoint.prev.pt until the new one has an epoch):
    {PROG} train --out runs/fm --overwrite
  re-probe a checkpoint (linear and kNN accuracy):
    {PROG} evaluate runs/fm
  two processes, DistributedDataParallel:
    torchrun --nproc_per_node=2 -m edu_contrast train ...
"""


def _defaults_table() -> str:
    """The per-dataset and per-method defaults, as a plain-text table for --help."""
    columns = (*CONVNET_KEYS, "epochs", "batch_size", "lr", "view_size")
    lines = ["defaults per dataset (a flag overrides them; --resume takes the checkpoint's instead):"]
    headers = ["--" + c.replace("_", "-") for c in columns]
    cell = lambda value: "-" if value is None else str(value)
    rows = {name: [cell(d[k]) for k in columns] for name, d in DATASET_DEFAULTS.items()}
    widths = [max(map(len, cells)) + 1 for cells in zip(headers, *rows.values())]  # one per column
    lines.append("  " + f"{'--dataset':<14}" + "".join(f"{h:>{w}}" for h, w in zip(headers, widths)))
    for name, cells in rows.items():
        lines.append(f"  {name:<14}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths)))
    temperatures = ", ".join(f"{m} {d['temperature']:g}" for m, d in METHOD_DEFAULTS.items() if d)
    lines.append(f"  --temperature per method: {temperatures}; --view-size -: the image side")
    return "\n".join(lines)


def number(kind: type, *bounds: str):
    """An argparse ``type``: the text as ``kind`` (int or float), finite and satisfying every bound.

    A bound is an operator and a number (``"> 0"``, ``">= 2"``, ``"< 1"``); a bad value gives argparse's
    own error, "argument --lr: expected a number > 0, got '0'". The one converter of this CLI.
    """
    checks = [(COMPARE[op], kind(limit)) for op, limit in (bound.split() for bound in bounds)]
    wanted = f"{'an integer' if kind is int else 'a number'} {' and '.join(bounds)}"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not all(compare(value, limit) for compare, limit in checks):
            raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
        return value

    convert.__name__ = wanted  # what argparse says if it ever names the type
    return convert


def _common() -> argparse.ArgumentParser:
    """Flags both commands have: where the data is, the device, --debug."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    common.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: CUDA when available, else cpu)")
    common.add_argument(
        "--data-root", type=Path, help="the folder to read the dataset from (and download into)"
    )
    common.add_argument(
        "--download",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="download a dataset that is not found (default: yes; --no-download never uses the network)",
    )
    return common


PER_DATASET = "(default: per dataset, see below)"
TRAINING_FLAGS = (  # flag, choices (a tuple) or type, help
    ("--method", METHOD_NAMES, "the method to train (default: simclr)"),
    ("--dataset", DATASET_NAMES, "the images (default: digits, which needs no download)"),
    ("--encoder", ("convnet", "resnet18", "resnet50"), f"the encoder f {PER_DATASET}"),
    ("--width", number(int, ">= 1"), f"channel width of the convnet {PER_DATASET}"),
    ("--feature-dim", number(int, ">= 1"), f"size of h, the convnet's output {PER_DATASET}"),
    ("--last-kernel", (1, 3), f"kernel size of the convnet's last convolution {PER_DATASET}"),
    ("--last-stride", (1, 2), f"stride of the convnet's last convolution {PER_DATASET}"),
    ("--epochs", number(int, ">= 0"), f"total epochs; with --resume, more extend the run {PER_DATASET}"),
    ("--batch-size", number(int, ">= 2"), f"images per optimiser step {PER_DATASET}"),
    ("--lr", number(float, "> 0"), f"peak AdamW learning rate {PER_DATASET}"),
    ("--weight-decay", number(float, ">= 0"), "AdamW weight decay (default: 1e-4)"),
    ("--warmup-epochs", number(float, ">= 0"), "linear warm-up, then cosine (default: 10%% of --epochs)"),
    ("--temperature", number(float, "> 0"), "τ of simclr, moco and supcon (default: per method, see below)"),
    ("--tau-plus", number(float, ">= 0", "< 1"), "τ⁺ of simclr, the class prior of debiased NT-Xent (Chuang "
     "et al. 2020): how likely a negative shares the anchor's class (default: 0, plain NT-Xent)"),
    ("--beta", number(float, ">= 0"), "β of simclr, the concentration on hard negatives (Robinson et al. "
     "2021), alone or with --tau-plus (default: 0, no reweighting)"),
    ("--samples-per-epoch", number(int, ">= 2"), "random training images per epoch (default: all)"),
    ("--augment", AUGMENT_PRESETS, "augmentation preset (default: tuned to the image size)"),
    ("--view-size", number(int, ">= 1"), f"side of the augmented training views (the probes see whole "
     f"images) {PER_DATASET}"),
    ("--seed", number(int, ">= 0"), "seeds the weights, the batches and the views (default: 0)"),
    ("--amp", ("auto", "bf16", "fp16", "off"), "mixed precision (default: auto: on CUDA, and bfloat16 on "
     "CPUs with AMX; off: float32; fp16 needs CUDA)"),
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"edu_contrast {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{train,evaluate,gallery,serve,grade}"
    )
    train_cmd = commands.add_parser(
        "train",
        parents=[_common()],
        help="train a method; writes OUT/checkpoint.pt and OUT/metrics.json",
        description="Train a method; write OUT/checkpoint.pt and OUT/metrics.json after every epoch.",
        epilog=EXAMPLES + "\n" + _defaults_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, kind, text in TRAINING_FLAGS:
        option = {"choices": kind} if isinstance(kind, tuple) else {"type": kind}
        if isinstance(kind, tuple) and isinstance(kind[0], int):
            option["type"] = int
        train_cmd.add_argument(flag, help=text, **option)
    train_cmd.add_argument(
        "--calibrate-bn",
        action=argparse.BooleanOptionalAction,
        help="before the final probe, re-estimate BatchNorm statistics on ≤ 10 000 clean training images and "
        "keep them in the checkpoint (default: yes; --no-calibrate-bn keeps training's running averages)",
    )
    train_cmd.add_argument("--out", type=Path, help="the run's folder (default: runs/METHOD-DATASET)")
    again = train_cmd.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue the run in OUT, with its settings")
    again.add_argument("--overwrite", action="store_true", help="start a new run in an OUT that holds one")
    train_cmd.add_argument("--no-progress", action="store_true", help="no progress bar or per-epoch lines")
    evaluate_cmd = commands.add_parser(
        "evaluate",
        parents=[_common()],
        help="re-probe a checkpoint (linear and kNN accuracy)",
        description="Re-probe a checkpoint: linear and kNN accuracy of its encoder features h.",
    )
    evaluate_cmd.add_argument("run", type=Path, help="a run folder (train's --out) or its checkpoint.pt")
    grade_cmd = commands.add_parser(
        "grade",
        help="grade a folder of submitted notebooks with the exercises' checkers",
        description="Run each notebook's exercise functions through their checkers; print a table.",
    )
    grade_cmd.add_argument("dir", type=Path, metavar="DIR", help="a folder of submitted .ipynb files")
    grade_cmd.add_argument(
        "--timeout", type=number(float, "> 0"), default=120, help="seconds per notebook (default: 120)"
    )
    grade_cmd.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    grade_cmd.set_defaults(data_root=None)
    gallery_cmd = commands.add_parser(  # cli/gallery.py
        "gallery",
        parents=[_common()],
        help="embed a dataset split (or CLIP scenes) with a run's encoder into a gallery file, for serve",
        description="Embed a dataset split with a run's encoder (features h), or --scenes N generated scenes "
        "with a CLIP run's image tower (x̂), into a gallery file for search.",
    )
    gallery_cmd.add_argument("--checkpoint", type=Path, help="a run folder or its checkpoint (or --clip)")
    gallery_cmd.add_argument("--clip", type=Path, help="a CLIP run (text_search.save_clip), for /search/text")
    gallery_cmd.add_argument(
        "--scenes", type=number(int, ">= 1"), help="with --clip: how many scenes (default: 1000)"
    )
    gallery_cmd.add_argument(
        "--seed",
        type=number(int, ">= 0"),
        help=f"with --clip: the scenes' seed (default: {SCENES_SEED}, apart from training's seed 0)",
    )
    gallery_cmd.add_argument("--dataset", choices=DATASET_NAMES, help="the images (default: the run's)")
    gallery_cmd.add_argument("--split", choices=("train", "test"), help="(default: test)")
    gallery_cmd.add_argument("--out", type=Path, required=True, help="the gallery file to write (.npz)")
    gallery_cmd.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    commands.add_parser(  # parsed by edu_contrast.serve: see `python -m edu_contrast serve --help`
        "serve", help="serve a run's encoder over HTTP (torch, onnx or onnx-int8); see serve --help"
    )
    return parser
