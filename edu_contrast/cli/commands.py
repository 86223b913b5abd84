"""The two commands: ``train`` (settings → data → method → ``train.fit`` → summary) and ``evaluate``.

``train --resume`` continues the run in OUT with the settings stored in its checkpoint: a flag that is
not given takes the checkpoint's value, a flag that is given must agree with it (``train.fit`` lists
every difference), except ``--epochs``, which may extend the run. ``args.stage`` says what a command
is doing ("data", "train", "evaluate"), so that ``errors.explain`` can name the right flag.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from pathlib import Path

import torch

from edu_contrast import augment, data, distributed, methods, train
from edu_contrast.cli.parser import (
    CONVNET_KEYS,
    DATASET_DEFAULTS,
    DEFAULTS,
    METHOD_DEFAULTS,
    NEGATIVES_METHODS,
    PROG,
    TEMPERATURE_METHODS,
)

FROM_RUN = ("epochs", "batch_size", "lr", "weight_decay", "seed", "samples_per_epoch", "amp", "view_size")
SETTINGS = (*CONVNET_KEYS, *FROM_RUN, "temperature")  # every flag --resume may take from the checkpoint
# SimCLR's τ⁺ and β (debiased / hard-negative NT-Xent): in method.spec only when not 0, so that a run
# without them, or one saved before they existed, is plain NT-Xent and resumes as it was
NEGATIVES = {"tau_plus": "τ⁺", "beta": "β"}

__all__ = ["train_command", "evaluate_command", "settings", "summary", "interrupted"]


def default_out(args) -> Path:
    return (
        args.out
        or Path("runs") / f"{args.method or DEFAULTS['method']}-{args.dataset or DEFAULTS['dataset']}"
    )


def _from_checkpoint(saved: dict, method: str, parser) -> dict:
    """The settings a checkpoint written by this command stores (its method's only if ``method`` is it)."""
    spec = saved.get("method")
    if not isinstance(spec, dict) or "dataset" not in saved:
        parser.error(
            f"argument --resume: the run was not started by this command (method {spec!r}); continue "
            f"it in Python with train.fit(..., resume=True)"
        )
    values = {key: saved.get(key) for key in FROM_RUN}  # a key it lacks was fit's default then (None)
    if spec.get("name") == method:
        values.update({key: spec.get(key) for key in CONVNET_KEYS})
        if "temperature" in spec:
            values["temperature"] = spec["temperature"]
        values.update({key: spec.get(key, 0.0) for key in NEGATIVES if method in NEGATIVES_METHODS})
    return values


def _check_negatives(args, parser, method: str, saved: dict | None) -> None:
    """--tau-plus and --beta only for SimCLR, and on --resume only as the checkpoint has them."""
    given = {key: getattr(args, key, None) for key in NEGATIVES}
    for key, value in given.items():
        if value is not None and method not in NEGATIVES_METHODS:
            parser.error(
                f"argument --{key.replace('_', '-')}: {method} has no {NEGATIVES[key]} "
                f"(only {', '.join(sorted(NEGATIVES_METHODS))} has: debiased / hard-negative NT-Xent)"
            )
    spec = (saved or {}).get("method")
    if not isinstance(spec, dict) or spec.get("name") != method:
        return  # a new run, or another method: fit lists that difference
    changed = [  # keyed by flag: errors.explain names a key it has no flag for as it is
        (f"--{key.replace('_', '-')}", spec.get(key, 0.0), value)
        for key, value in given.items()
        if value is not None and value != spec.get(key, 0.0)
    ]
    if changed:  # fit would list them as method.tau_plus, method.beta; said here with their flags
        raise train.ResumeMismatchError(
            f"Cannot resume the run in {default_out(args)}: it was trained with other settings.", changed
        )


def settings(args, parser: argparse.ArgumentParser, saved: dict | None = None) -> dict:
    """The run's settings: the flags given, else the checkpoint's (``--resume``), else the defaults."""
    spec = (saved or {}).get("method")
    method = args.method or (spec.get("name") if isinstance(spec, dict) else None) or DEFAULTS["method"]
    dataset = args.dataset or (saved or {}).get("dataset") or DEFAULTS["dataset"]
    if args.temperature is not None and method not in TEMPERATURE_METHODS:
        parser.error(
            f"argument --temperature: {method} has no temperature "
            f"(only {', '.join(sorted(TEMPERATURE_METHODS))} do)"
        )
    _check_negatives(args, parser, method, saved)
    values = {**DATASET_DEFAULTS[dataset], **METHOD_DEFAULTS[method]}
    if method in NEGATIVES_METHODS:
        values |= {key: 0.0 for key in NEGATIVES}  # plain NT-Xent
    values |= {key: DEFAULTS[key] for key in ("weight_decay", "seed", "amp")}
    if saved is not None:
        values |= _from_checkpoint(saved, method, parser)
    values |= {key: getattr(args, key) for key in (*SETTINGS, *NEGATIVES) if getattr(args, key) is not None}
    if getattr(args, "calibrate_bn", None) is not None:  # --calibrate-bn / --no-calibrate-bn
        values["calibrate_bn"] = args.calibrate_bn
    if values["encoder"] != "convnet":
        for key in CONVNET_KEYS[1:]:
            flag = "--" + key.replace("_", "-")
            if getattr(args, key) is not None:
                parser.error(
                    f"argument {flag}: only the convnet encoder has a {key.replace('_', ' ')} "
                    f"(got --encoder {values['encoder']})"
                )
            values[key] = None
    return {**values, "method": method, "dataset": dataset}


def _augmentation(preset: str | None, size: int) -> augment.AugmentConfig | None:
    """The --augment preset (None when not given: fit's default, or the checkpoint's on --resume)."""
    if preset is None:
        return None
    return (
        augment.AugmentConfig.for_size(size)
        if preset == "default"
        else getattr(augment.AugmentConfig, preset)()
    )


def _build(s: dict, channels: int):
    torch.manual_seed(s["seed"])  # the encoder's initial weights
    hyper = {"temperature": s["temperature"]} if s["method"] in TEMPERATURE_METHODS else {}
    hyper |= {key: s[key] for key in NEGATIVES if s.get(key)}  # 0, plain NT-Xent, stays out of the spec
    encoder = {key: s[key] for key in CONVNET_KEYS}  # encoder, width, feature_dim, last_kernel, last_stride
    return methods.build_method(s["method"], in_channels=channels, **encoder, **hyper)


def train_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    args.out = out = default_out(args)
    checkpoint, previous = out / train.CHECKPOINT_NAME, out / train.PREVIOUS[train.CHECKPOINT_NAME]
    has_run = checkpoint.exists() or previous.exists()
    saved = train.load_checkpoint(checkpoint)["config"] if args.resume and checkpoint.exists() else None
    s = settings(args, parser, saved)
    device = distributed.init_from_env() if distributed.launched_by_torchrun() else args.device
    if args.resume and not has_run and distributed.rank() == 0:
        print(f"--resume, but {out} holds no checkpoint: starting a new run.")
    try:
        args.stage = "data"
        train_data = data.load_dataset(s["dataset"], "train", root=args.data_root, download=args.download)
        test_data = data.load_dataset(s["dataset"], "test", root=args.data_root, download=args.download)
        args.stage = "train"
        result = train.fit(
            _build(s, train_data.channels),
            train_data,
            eval_data=test_data,
            augment_config=_augmentation(args.augment, train_data.size),
            warmup_epochs=args.warmup_epochs,
            calibrate_bn=s["calibrate_bn"],
            out_dir=out,
            resume=args.resume and has_run,
            overwrite=args.overwrite,
            device=device,
            progress=not args.no_progress,
            config={"dataset": s["dataset"]},
            **{key: s[key] for key in FROM_RUN},  # epochs, batch_size, lr, weight_decay, seed, ...
        )
        if distributed.rank() == 0:
            print(summary(result, s["method"], s["dataset"], out, time.perf_counter() - started))
    finally:
        distributed.cleanup()
    return 0


def evaluate_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    path = args.run
    if not path.exists():
        parser.error(f"argument run: {path} does not exist (give the --out folder of a training run)")
    train.load_checkpoint(path)  # a damaged or unreadable checkpoint is about `run`, not the data
    args.stage = "data"
    result = train.evaluate(path, device=args.device, root=args.data_root, download=args.download)
    print(
        f"{path}: epoch {result['epoch']}  linear-probe accuracy {result['linear_accuracy']:.4f}  "
        f"kNN accuracy {result['knn_accuracy']:.4f}  ({time.perf_counter() - started:.0f} s)"
    )
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


def summary(result: dict, method: str, dataset: str, out: Path, seconds: float | None = None) -> str:
    """One screen: the per-epoch table (at most 12 rows), the linear-probe accuracy, the time, the files.

    The columns are ``fit``'s history keys (``train.monitor``): alignment, uniformity, positive cosine and
    the effective ranks of z and h come from ``measure.embedding_report`` on the monitor's test images.
    ``seconds`` is the whole command (data, every epoch, the final probe); default: the epochs' sum.
    """
    history = result["history"]
    rows = history if len(history) <= 12 else history[:1] + history[len(history) - 11 :]
    widths = [len(fmt.format(0)) for _, _, fmt in SUMMARY_COLUMNS]
    header = " ".join(f"{title:>{w}}" for (_, title, _), w in zip(SUMMARY_COLUMNS, widths))
    lines = [f"{method} on {dataset}", header]
    lines += [" ".join(fmt.format(h[key]) for key, _, fmt in SUMMARY_COLUMNS) for h in rows]
    total = sum(h["seconds"] for h in history) if seconds is None else seconds
    probe = result.get("probe_seconds")
    lines.append(
        f"linear-probe accuracy (encoder features): {result['linear_accuracy']:.4f}   total {total:.0f} s"
        + (f" (final probe {probe:.1f} s)" if probe is not None else "")
    )
    if result.get("precision"):
        lines.append(f"precision: {result['precision']}")
    lines.append(f"wrote {out / train.CHECKPOINT_NAME} and {out / train.METRICS_NAME}")
    return "\n".join(lines)


def interrupted(args, argv: list[str]) -> str:
    """What Ctrl-C leaves behind, and the command that continues the run."""
    if args.command != "train" or getattr(args, "out", None) is None:
        return f"{PROG} {args.command}: interrupted."
    try:
        epoch = json.loads((args.out / train.METRICS_NAME).read_text())["history"][-1]["epoch"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return f"{PROG} train: interrupted before the run saved a checkpoint; run the same command again."
    again = [a for a in argv if a != "--overwrite"] + ([] if "--resume" in argv else ["--resume"])
    return (
        f"{PROG} train: interrupted; {args.out / train.CHECKPOINT_NAME} holds epoch {epoch}, complete. "
        f"Continue with: {PROG} {shlex.join(again)}"
    )
