r"""User errors as one line that names the flag and what to do; everything else stays a traceback.

The library words its errors for Python callers: "The 'batch_size' parameter of fit must be <= ...",
"pass resume=True", "lr=1e+06". ``explain`` rewrites them for the command line with ``FLAGS``, the table
from each API parameter to its flag:

    The 'batch_size' parameter of fit must be E. Got G instead.   →  argument --batch-size: must be E, got G
    name=True / name=value / a_name                               →  --flag / --flag value / --a-name

and prefixes the flag an error is about (``--out`` for a folder that holds a run, ``--lr`` for a
diverged run, ``--resume`` for a checkpoint that cannot be continued, ``--dataset`` for the data).
An exception ``explain`` does not recognise is a bug: ``main`` shows its traceback.
"""

from __future__ import annotations

import re

import torch

from edu_contrast.data.datasets import CorruptDataError, DownloadError
from edu_contrast.train import (
    CorruptCheckpointError,
    ResumeMismatchError,
    RunExistsError,
    TrainingDivergedError,
    UnreadableCheckpointError,
)

FLAGS = {  # API parameter (or run-config key) → flag
    "method": "--method",
    "name": "--method",
    "dataset": "--dataset",
    "image_shape": "--dataset",
    "in_channels": "--dataset",
    "encoder": "--encoder",
    "width": "--width",
    "feature_dim": "--feature-dim",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "weight_decay": "--weight-decay",
    "warmup_epochs": "--warmup-epochs",
    "temperature": "--temperature",
    "samples_per_epoch": "--samples-per-epoch",
    "augment": "--augment",
    "augment_config": "--augment",
    "seed": "--seed",
    "amp": "--amp",
    "device": "--device",
    "out_dir": "--out",
    "resume": "--resume",
    "overwrite": "--overwrite",
    "root": "--data-root",
    "download": "--download",
    "world_size": "torchrun --nproc_per_node",
}
NEGATED = {"download": "--no-download"}  # name=False
FAIL_FORM = re.compile(r"The '(\w+)' parameter of ([\w.]+) must be (.*)\. Got (.*) instead\.", re.DOTALL)
_NAMES = "|".join(sorted(FLAGS, key=len, reverse=True))
_ASSIGNED = re.compile(rf"\b({_NAMES})=([^\s,;)]+?)(?=[\s,;)]|\.\s|\.?$)")
_BARE = re.compile(rf"\b({'|'.join(n for n in FLAGS if '_' in n)})\b")  # plain words (lr, seed) stay words

__all__ = ["FLAGS", "to_flags", "explain"]


def to_flags(text: str) -> str:
    """``text`` with the API's ``name=value`` and ``snake_case`` parameter names written as flags."""

    def assigned(match: re.Match) -> str:
        name, value = match.groups()
        if value == "True":
            return FLAGS[name]
        if value == "False":
            return NEGATED.get(name, f"no {FLAGS[name]}")
        return f"{FLAGS[name]} {value}"

    return _BARE.sub(lambda m: FLAGS[m.group(1)], _ASSIGNED.sub(assigned, text))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _differences(error: ResumeMismatchError) -> str:
    """The settings that differ from the checkpoint's, one per flag, as flags."""
    seen, parts = set(), []
    for key, old, new in error.differences:
        flag = FLAGS.get(key.split(".")[-1] if key.startswith("method.") else key.split(".")[0], key)
        if flag in seen:
            continue
        seen.add(flag)
        detail = f" ({key.split('.', 1)[1]})" if key.startswith("augment.") else ""
        parts.append(f"{flag}{detail} {old!r} in the checkpoint, {new!r} now")
    folder = re.match(r"Cannot resume the run in (.*?): it was trained", str(error))
    return (
        f"the run in {folder.group(1) if folder else '--out'} was trained with other settings: "
        f"{'; '.join(parts)}. Drop those flags to continue it as it was, pass --overwrite to start over, "
        f"or choose another --out"
    )


def explain(error: BaseException, context: str, data_flag: str = "--dataset") -> str | None:
    """The one-line message for a user error (None: not a user error, a bug).

    ``context`` is what the command was doing: "data" (loading the dataset), "train" or "evaluate".
    """
    text = str(error)
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "argument --batch-size: the GPU ran out of memory; lower --batch-size or use --amp bf16"
    if isinstance(error, ResumeMismatchError) and error.differences:
        return f"argument --resume: {_differences(error)}"
    form = FAIL_FORM.fullmatch(text.strip())
    if form and isinstance(error, (ValueError, TypeError)):
        name, _, expected, got = form.groups()
        message = f"must be {to_flags(expected)}, got {to_flags(got)}"
        return _one_line(f"argument {FLAGS[name]}: {message}" if name in FLAGS else to_flags(text))
    prefix = None
    if isinstance(error, TrainingDivergedError):
        prefix = f"argument {FLAGS[error.parameter]}"
    elif isinstance(error, RunExistsError):
        prefix = "argument --out"
    elif isinstance(error, (CorruptCheckpointError, UnreadableCheckpointError)):
        prefix = "argument run" if context == "evaluate" else "argument --resume"
    elif context == "data" and isinstance(error, (OSError, CorruptDataError, DownloadError)):
        prefix = f"argument {data_flag}"
    elif context == "evaluate" and isinstance(error, (FileNotFoundError, ValueError)):
        prefix = "argument run"
    if prefix is None:
        return None
    return _one_line(f"{prefix}: {to_flags(text)}")
