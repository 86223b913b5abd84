"""Training: ``fit`` a method on in-memory images, checkpoint every epoch, resume exactly.

The loop, one optimiser step:

    idx  = permutation[s·B : (s+1)·B]               (seeded, so a resumed run draws the same batches)
    x    = images[idx].float() / 255                (uint8 in memory → float on the device)
    x1, x2 = t₁(x), t₂(x),  t ~ 𝒜                   (``augment.batched``, on the device)
    L    = method.loss(x1, x2, labels)              (autocast: GPU, or CPU with AMX bfloat16)
    θ   ← AdamW(θ, ∇L, lr_s),  lr_s = lr · warm-up · cosine
    method.on_step_end(s / S)                       (momentum networks of MoCo/BYOL)

Augmenting whole batches on the device instead of one image at a time in DataLoader workers is
what makes training fast on a CPU as well as on a GPU. After each epoch the encoder is
monitored (kNN accuracy, positive cosine, effective rank) and ``out_dir/checkpoint.pt`` is
replaced atomically. ``evaluate`` re-probes a checkpoint.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edu_contrast import augment, diagnostics, distributed, probes
from edu_contrast._validation import _fail, check_choice, check_int, check_positive

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
CHECKPOINT_FORMAT = 1
INITIAL_LOSS_BATCHES = 4  # batches averaged for the epoch-0 loss
RESUME_MUST_MATCH = ("method", "batch_size", "seed", "samples_per_epoch", "world_size")

__all__ = [
    "fit",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "CorruptCheckpointError",
    "ResumeMismatchError",
    "warmup_cosine",
    "embed_images",
    "two_views",
    "train_step",
    "autocast_dtype",
]


class CorruptCheckpointError(RuntimeError):
    """The checkpoint file cannot be read (truncated, corrupt, or not an edu_contrast checkpoint)."""


class ResumeMismatchError(ValueError):
    """``resume=True`` with settings that differ from the checkpoint's (method, batch size, seed, ...)."""


# ----------------------------------------------------------------------------- schedule


def warmup_cosine(step: int, *, total_steps: int, warmup_steps: int) -> float:
    r"""Learning-rate factor: linear warm-up, then cosine decay to 0 (Loshchilov & Hutter 2017).

        f(s) = (s + 1)/W                                  for s < W
        f(s) = ½ (1 + cos(π (s − W)/(S − W)))             for W ≤ s ≤ S

    ``step`` is s (0-based), ``warmup_steps`` is W, ``total_steps`` is S.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(step - warmup_steps, decay_steps) / decay_steps))


# ----------------------------------------------------------------------------- checkpoints


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); directories cannot be opened on Windows."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    os.replace is atomic, so ``path`` is always either the old complete file or the new one,
    whatever moment the process is killed at; a failed write removes its temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """``torch.save(state, path)`` atomically (see ``_atomic_write``)."""
    _atomic_write(Path(path), lambda f: torch.save(state, f))


def _write_metrics(path: Path, history: list[dict], linear_accuracy: float | None) -> None:
    """metrics.json, atomically; NaN becomes null so the file is strict JSON."""
    clean = [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in h.items()}
        for h in history
    ]
    text = json.dumps({"history": clean, "linear_accuracy": linear_accuracy}, indent=2, allow_nan=False)
    _atomic_write(path, lambda f: f.write(text.encode() + b"\n"))


def load_checkpoint(path: str | os.PathLike, *, map_location="cpu") -> dict:
    """Load a checkpoint written by ``fit`` with ``torch.load(..., weights_only=True)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptCheckpointError: the file is truncated or corrupt (for example the machine died
            while an old version without atomic writes was saving), with what to do about it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"No checkpoint at {path}. Train first: python -m edu_contrast train --out {path.parent}"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # zip reader, unpickler and EOF errors all mean the same thing here
        raise CorruptCheckpointError(
            f"The checkpoint file {path} is corrupt or truncated and cannot be loaded "
            f"({type(error).__name__}: {(str(error).splitlines() or [''])[0]}). Delete it to start "
            f"training from scratch, or run without --resume (resume=False) to overwrite it."
        ) from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or "model" not in state:
        raise CorruptCheckpointError(
            f"The file {path} is not an edu_contrast training checkpoint (format {CHECKPOINT_FORMAT}). "
            f"Delete it or choose another output directory."
        )
    return state


# ----------------------------------------------------------------------------- RNG states as tensors


def _rng_state(data_generator: torch.Generator) -> dict:
    """Every random number generator the run uses, as tensors and plain values (``weights_only``-safe)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the legacy global RNG is the state)
    version, py_state, gauss_next = random.getstate()
    cuda = (
        [torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else []
    )
    return {
        "torch": torch.get_rng_state(),
        "cuda": cuda,
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {
            "version": version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "data": data_generator.get_state(),
    }


def _set_rng_state(state: dict, data_generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    for i, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(cuda_state, i)
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    data_generator.set_state(state["data"])


def _gather_objects(obj) -> list:
    """One object per rank (just ``[obj]`` in a single process)."""
    if not distributed.is_distributed():
        return [obj]
    out = [None] * distributed.world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def _broadcast_object(obj):
    """Rank 0's object on every rank."""
    if not distributed.is_distributed():
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


# ----------------------------------------------------------------------------- data and features


def _check_images(data, name: str, where: str) -> None:
    images, labels = getattr(data, "images", None), getattr(data, "labels", None)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        _fail(
            name,
            where,
            "an ImageTensors (data.load_dataset) with uint8 .images of shape (N, C, H, W)",
            f"an object of type {type(data).__name__}",
            TypeError,
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        _fail(
            name,
            where,
            "an ImageTensors whose .labels has shape (N,)",
            f"labels of shape {tuple(labels.shape) if isinstance(labels, torch.Tensor) else None}",
        )


def _to_float(images_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 (B, C, H, W) → float [0, 1] on ``device``, channels_last (faster convolutions, CPU and GPU)."""
    x = images_uint8.to(device, non_blocking=True).float().div_(255)  # (B, C, H, W)
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def embed_images(
    method: nn.Module,
    images: torch.Tensor,
    *,
    device=None,
    batch_size: int = 1024,
    project: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """h = method.embed(x) (or z = method.project(x)) of un-augmented uint8 images, float32 on the CPU.

    Runs in eval mode (BatchNorm uses its running statistics) and restores the previous mode;
    ``amp_dtype`` is an optional autocast dtype (``autocast_dtype``).
    """
    device = torch.device(device) if device is not None else next(method.parameters()).device
    was_training = method.training
    method.eval()
    try:
        fn = method.project if project else method.embed
        with _autocast(device, amp_dtype):
            out = [
                fn(_to_float(images[i : i + batch_size], device)).float().cpu()
                for i in range(0, images.shape[0], batch_size)
            ]
    finally:
        method.train(was_training)
    return torch.cat(out)  # (N, feature_dim)


def _autocast(device: torch.device, amp_dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)


def _split_for_eval(data, eval_data, seed: int):
    """(train images, train labels, test images, test labels) for the probes.

    Without ``eval_data`` a fixed 20% of the training images is held out as the probe's test set
    (self-supervised training used those images but never their labels).
    """
    if eval_data is not None:
        return data.images, data.labels, eval_data.images, eval_data.labels
    order = torch.randperm(data.images.shape[0], generator=torch.Generator().manual_seed(seed))  # (N,)
    cut = int(0.8 * len(order))
    train, test = order[:cut], order[cut:]
    return data.images[train], data.labels[train], data.images[test], data.labels[test]


# ----------------------------------------------------------------------------- monitoring


@torch.no_grad()
def _monitor(method, aug, sets, device, amp_dtype, seed: int, knn_k: int) -> dict:
    """kNN accuracy on h, and positive cosine / effective rank on z, without touching the training RNG."""
    train_x, train_y, test_x, test_y = sets
    h_train = embed_images(method, train_x, device=device, amp_dtype=amp_dtype)
    h_test = embed_images(method, test_x, device=device, amp_dtype=amp_dtype)
    knn = probes.knn_probe(h_train, train_y, h_test, test_y, k=min(knn_k, h_train.shape[0]))
    was_training = method.training
    method.eval()
    try:
        cuda = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda), _autocast(device, amp_dtype):
            torch.manual_seed(seed)
            x = _to_float(test_x[:1024], device)  # (b, C, H, W)
            z1, z2 = method.project(aug(x)).float(), method.project(aug(x)).float()  # two views: (b, out_dim)
            z = method.project(x).float()  # (b, out_dim), un-augmented
        cosine, rank = diagnostics.positive_cosine(z1, z2), diagnostics.effective_rank(z)
    finally:
        method.train(was_training)
    return {"knn_accuracy": knn, "positive_cosine": cosine, "effective_rank": rank}


def _initial_loss(model, method, batches, device, amp_dtype) -> float:
    """The training loss of the untrained model on a few batches, without changing any state.

    In train mode (the loss a step would see) under no_grad; BatchNorm statistics, MoCo's queue
    and every random number generator are restored afterwards, so the run is unaffected.
    """
    saved = copy.deepcopy(method.state_dict())
    cuda = [device.index or 0] if device.type == "cuda" else []
    total = 0.0
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        for x1, x2, y in batches:
            with _autocast(device, amp_dtype):
                total += float(model(x1, x2, y))
    method.load_state_dict(saved)
    return total / max(1, len(batches))


# ----------------------------------------------------------------------------- one step


def two_views(images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, aug: nn.Module):
    """x1, x2 = t₁(x), t₂(x) for the uint8 images ``images[idx]`` (on their device), and their labels."""
    x = _to_float(images[idx], images.device)  # (b, C, H, W) float in [0, 1]
    return aug(x), aug(x), labels[idx]


def train_step(
    model: nn.Module, optimizer, scaler, x1, x2, labels, amp_dtype: torch.dtype | None
) -> torch.Tensor:
    """One optimiser step: loss under autocast, (scaled) backward, step. Returns the detached loss."""
    with _autocast(x1.device, amp_dtype):
        loss = model(x1, x2, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


# ----------------------------------------------------------------------------- fit


def cpu_has_fast_bfloat16() -> bool:
    """True on CPUs with AMX bfloat16 units (Intel Sapphire Rapids and later), where bf16 autocast is ~2-3×
    faster than float32; elsewhere bfloat16 on a CPU is emulated and slower."""
    try:
        with open("/proc/cpuinfo") as f:
            return "amx_bf16" in f.read()
    except OSError:
        return False


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: float32).

    "auto": bfloat16 on GPUs that support it, else float16 (with a GradScaler); on the CPU
    bfloat16 only where it is fast (``cpu_has_fast_bfloat16``). float16 needs CUDA.
    """
    amp = check_choice(amp, "amp", "autocast_dtype", ("auto", "bf16", "fp16", "off"))
    if amp == "off":
        return None
    if device.type != "cuda":
        if amp == "fp16":
            _fail("amp", "fit", "'bf16', 'auto' or 'off' on the CPU (float16 training needs CUDA)", "'fp16'")
        return torch.bfloat16 if amp == "bf16" or cpu_has_fast_bfloat16() else None
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _default_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device(
            "cuda", int(os.environ.get("LOCAL_RANK", 0)) if distributed.is_distributed() else 0
        )
    return torch.device("cpu")


def _config_mismatch(saved: dict, current: dict) -> str | None:
    for key in RESUME_MUST_MATCH:
        if saved.get(key) != current.get(key):
            return f"{key}={saved.get(key)!r} in the checkpoint, {current.get(key)!r} now"
    return None


def fit(
    method: nn.Module,
    train_data,
    *,
    epochs: int,
    batch_size: int = 256,
    lr: float = 3e-4,
    weight_decay: float = 1e-4,
    warmup_epochs: float | None = None,
    augment_config: augment.AugmentConfig | None = None,
    eval_data=None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    samples_per_epoch: int | None = None,
    knn_k: int = 20,
    knn_train_size: int = 10_000,
    knn_test_size: int = 2_000,
    amp: str = "auto",
    callback=None,
    config: dict | None = None,
) -> dict:
    r"""Train ``method`` on ``train_data`` with AdamW, warm-up + cosine learning rate, checkpoints.

    Args:
        method: a ``methods`` module (``loss``, ``embed``, ``project``, ``on_step_end``).
        train_data: ``data.ImageTensors`` (uint8 images in memory, labels used only by SupCon and probes).
        epochs: total number of epochs E (a resumed run continues up to E).
        batch_size: global batch B (split over the processes under DDP).
        lr, weight_decay: AdamW's peak learning rate and decoupled weight decay.
        warmup_epochs: linear warm-up length (default 10% of ``epochs``), then cosine to 0, per step.
        augment_config: the distribution 𝒜 (default ``AugmentConfig.for_size(image side)``).
        eval_data: test ``ImageTensors`` for the kNN monitor and the final linear probe (default:
            a fixed 20% of ``train_data`` held out).
        out_dir: where ``checkpoint.pt`` and ``metrics.json`` go (None: nothing written).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (same seed, batch size, method).
        seed: seeds the batch order, the augmentations and every other random number.
        device: default CUDA when available, else CPU.
        progress: show a tqdm bar and one line per epoch.
        samples_per_epoch: use a fresh random subset of this many images per epoch (default all).
        knn_k, knn_train_size, knn_test_size: the per-epoch kNN monitor (k neighbours, on fixed
            subsets of the train/test images; the final linear probe uses all of them).
        amp: mixed precision, "auto" (GPU: bf16 where supported, else fp16 with a GradScaler; CPU:
            bf16 where it is fast, see ``cpu_has_fast_bfloat16``), "bf16", "fp16" (CUDA only) or "off".
        callback: called with each epoch's history entry (e.g. to plot live).
        config: extra plain values stored in the checkpoint (the CLI stores the dataset name).

    Returns:
        ``{"history": [...], "linear_accuracy": float, "checkpoint": path or None}``. ``history[e]``
        has ``epoch``, ``loss`` (mean training loss of the epoch), ``knn_accuracy`` and ``seconds`` of
        the encoder features h, and ``positive_cosine`` (two augmented views) and ``effective_rank``
        (un-augmented images) of the projections z. Entry 0 is measured before any step: its loss
        is the mean loss of the untrained model on a few training batches, with no update.
    """
    where = "fit"
    if not isinstance(method, nn.Module) or not all(
        callable(getattr(method, name, None)) for name in ("loss", "embed", "project", "on_step_end")
    ):
        _fail(
            "method",
            where,
            "an nn.Module with loss, embed, project and on_step_end (see edu_contrast.methods)",
            f"an object of type {type(method).__name__}",
            TypeError,
        )
    _check_images(train_data, "train_data", where)
    if eval_data is not None:
        _check_images(eval_data, "eval_data", where)
    epochs = check_int(epochs, "epochs", where, minimum=0)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    lr = check_positive(lr, "lr", where)
    weight_decay = check_positive(weight_decay, "weight_decay", where, allow_zero=True)
    warmup_epochs = (
        0.1 * epochs
        if warmup_epochs is None
        else check_positive(warmup_epochs, "warmup_epochs", where, allow_zero=True)
    )
    seed = check_int(seed, "seed", where, minimum=0)
    amp = check_choice(amp, "amp", where, ("auto", "bf16", "fp16", "off"))
    if resume and out_dir is None:
        _fail("out_dir", where, "a directory when resume=True", None)
    n_images, channels, height, _ = train_data.images.shape
    if samples_per_epoch is not None:
        samples_per_epoch = min(check_int(samples_per_epoch, "samples_per_epoch", where, minimum=2), n_images)
    used = samples_per_epoch or n_images
    if batch_size > used:
        _fail("batch_size", where, f"<= the number of images used per epoch ({used})", batch_size)
    world, rank = distributed.world_size(), distributed.rank()
    if batch_size % world:
        _fail("batch_size", where, f"divisible by the number of processes ({world})", batch_size)

    device = torch.device(device) if device is not None else _default_device()
    amp_dtype = autocast_dtype(amp, device)
    torch.manual_seed(seed + rank)  # augmentations differ between ranks; the batch order does not
    np.random.seed(seed)  # noqa: NPY002 (seeds students' np.random calls too)
    random.seed(seed)
    data_generator = torch.Generator().manual_seed(seed)

    method.to(device, memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model = method
    if distributed.is_distributed():
        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(method)
            method = model
        ids = [device.index] if device.type == "cuda" else None
        model = nn.parallel.DistributedDataParallel(method, device_ids=ids)
    # RandBit's bit planes must stay identical in both views: the augmentation leaves them alone.
    protected = getattr(train_data, "protected_channels", 0)
    aug = augment.batched(height, channels, augment_config, protected_channels=protected).to(device)
    images = train_data.images.to(device)  # uint8 in device memory: 60k 28×28 images are 47 MB
    labels = train_data.labels.to(device)

    steps_per_epoch = used // batch_size
    total_steps = max(1, epochs * steps_per_epoch)
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, total_steps=total_steps, warmup_steps=warmup_steps)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    run_config = {
        "method": getattr(method, "spec", type(method).__name__),
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup_epochs": warmup_epochs,
        "seed": seed,
        "samples_per_epoch": samples_per_epoch,
        "world_size": world,
        "amp": amp,
        "augment": dataclasses.asdict(aug.config),
        "image_shape": [channels, height, height],
        **(config or {}),
    }
    out_dir = Path(out_dir) if out_dir is not None else None
    ckpt_path = out_dir / CHECKPOINT_NAME if out_dir is not None else None
    history: list[dict] = []
    start_epoch = 0
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path, map_location=device)
        mismatch = _config_mismatch(state["config"], run_config)
        if mismatch:
            raise ResumeMismatchError(
                f"Cannot resume from {ckpt_path}: the run differs ({mismatch}). Use the same "
                f"settings, another --out directory, or drop --resume to start over."
            )
        for module, key in (
            (method, "model"),
            (optimizer, "optimizer"),
            (scheduler, "scheduler"),
            (scaler, "scaler"),
        ):
            module.load_state_dict(state[key])
        _set_rng_state(state["rng"][rank], data_generator)
        history, start_epoch = list(state["history"]), int(state["epoch"])
        _say(progress and rank == 0, f"Resuming from {ckpt_path} after epoch {start_epoch}.")

    sets = _split_for_eval(train_data, eval_data, seed)
    monitor_sets = _monitor_subsets(sets, knn_train_size, knn_test_size, seed)

    def batch(idx):
        """This rank's share of global batch ``idx``: two views and labels."""
        return two_views(images, labels, idx.view(world, -1)[rank].to(device), aug)  # idx: (world, B / world)

    def save(epoch: int, linear_accuracy=None) -> None:
        rng = _gather_objects(_rng_state(data_generator))
        if rank != 0 or ckpt_path is None:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": method.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "rng": rng,
            "history": history,
            "config": run_config,
            "linear_accuracy": linear_accuracy,
        }
        save_checkpoint(state, ckpt_path)
        _write_metrics(out_dir / METRICS_NAME, history, linear_accuracy)

    if start_epoch == 0:
        start = time.perf_counter()
        probe_order = torch.randperm(used, generator=torch.Generator().manual_seed(seed + 1))
        loss_batches = min(INITIAL_LOSS_BATCHES, steps_per_epoch)
        with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            batches = [batch(probe_order[s * batch_size : (s + 1) * batch_size]) for s in range(loss_batches)]
        loss0 = distributed.all_reduce_mean(_initial_loss(model, method, batches, device, amp_dtype), device)
        history = [
            _epoch_record(0, loss0, method, aug, monitor_sets, device, amp_dtype, seed, knn_k, start, rank)
        ]
        _report(history[-1], epochs, progress and rank == 0)
        save(0)

    for epoch in range(start_epoch + 1, epochs + 1):
        start = time.perf_counter()
        method.train()
        order = torch.randperm(n_images, generator=data_generator)[:used]  # (used,)
        batches = (batch(order[s * batch_size : (s + 1) * batch_size]) for s in range(steps_per_epoch))
        bar = _bar(steps_per_epoch, f"epoch {epoch}/{epochs}", progress and rank == 0)
        first_step = (epoch - 1) * steps_per_epoch
        losses = []
        for step, (x1, x2, y) in enumerate(batches, start=first_step + 1):
            losses.append(train_step(model, optimizer, scaler, x1, x2, y, amp_dtype))
            scheduler.step()
            method.on_step_end(step / total_steps)
            _advance(bar, losses[-1], step - first_step)
        if bar is not None:
            bar.close()
        epoch_loss = distributed.all_reduce_mean(float(torch.stack(losses).float().mean()), device)
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(
                f"The training loss became {epoch_loss} in epoch {epoch}. Lower the learning "
                f"rate (lr={lr}) or raise the temperature, and start again without --resume."
            )
        history.append(
            _epoch_record(
                epoch, epoch_loss, method, aug, monitor_sets, device, amp_dtype, seed, knn_k, start, rank
            )
        )
        _report(history[-1], epochs, progress and rank == 0)
        save(epoch)
        if callback is not None:
            callback(history[-1])

    linear_accuracy = None
    if rank == 0:
        train_x, train_y, test_x, test_y = sets
        h_train = embed_images(method, train_x, device=device, amp_dtype=amp_dtype)
        h_test = embed_images(method, test_x, device=device, amp_dtype=amp_dtype)
        linear_accuracy = probes.linear_probe(h_train, train_y, h_test, test_y)
        _say(progress, f"Linear probe on encoder features: {linear_accuracy:.4f}")
    linear_accuracy = _broadcast_object(linear_accuracy)
    save(max(epochs, start_epoch), linear_accuracy)
    return {
        "history": history,
        "linear_accuracy": linear_accuracy,
        "checkpoint": str(ckpt_path) if ckpt_path else None,
    }


def _monitor_subsets(sets, train_size: int, test_size: int, seed: int):
    """Fixed random subsets of the probe sets for the cheap per-epoch kNN monitor."""
    train_x, train_y, test_x, test_y = sets
    g = torch.Generator().manual_seed(seed + 2)
    tr = torch.randperm(train_x.shape[0], generator=g)[:train_size]
    te = torch.randperm(test_x.shape[0], generator=g)[:test_size]
    return train_x[tr], train_y[tr], test_x[te], test_y[te]


def _epoch_record(
    epoch, loss, method, aug, monitor_sets, device, amp_dtype, seed, knn_k, start, rank
) -> dict:
    """One history entry; monitored on rank 0 and shared with the others."""
    record = None
    if rank == 0:
        record = {
            "epoch": epoch,
            "loss": loss,
            **_monitor(method, aug, monitor_sets, device, amp_dtype, seed, knn_k),
        }
        record["seconds"] = time.perf_counter() - start
    return _broadcast_object(record)


def _advance(bar, loss: torch.Tensor, steps_done: int) -> None:
    """Move the progress bar; show the loss every 10 steps (reading it waits for the GPU)."""
    if bar is not None:
        bar.update()
        if steps_done % 10 == 1:
            bar.set_postfix(loss=f"{float(loss):.3f}")


def _bar(total: int, desc: str, show: bool):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def _say(show: bool, message: str) -> None:
    if show:
        from tqdm.auto import tqdm

        tqdm.write(message)


def _report(record: dict, epochs: int, show: bool) -> None:
    _say(
        show,
        f"epoch {record['epoch']:>3}/{epochs}  loss {record['loss']:.4f}  kNN {record['knn_accuracy']:.4f}  "
        f"pos-cos {record['positive_cosine']:.3f}  eff-rank {record['effective_rank']:.1f}  "
        f"{record['seconds']:.1f}s",
    )


# ----------------------------------------------------------------------------- evaluate


def evaluate(
    checkpoint: str | os.PathLike,
    *,
    method: nn.Module | None = None,
    train_data=None,
    eval_data=None,
    device=None,
    root=None,
    knn_k: int = 20,
) -> dict:
    """Re-probe a checkpoint: linear and kNN accuracy of its encoder features h.

    Args:
        checkpoint: ``checkpoint.pt`` or the run directory holding it.
        method: the module to load the weights into (default: rebuilt from the checkpoint's recipe,
            which ``methods.build_method`` recorded).
        train_data, eval_data: ``ImageTensors`` (default: the checkpoint's dataset, train and test split).
        device: default CUDA when available, else CPU.
        root: data directory for ``data.load_dataset``.

    Returns:
        ``{"epoch", "linear_accuracy", "knn_accuracy"}``.
    """
    from edu_contrast import data, methods

    state = load_checkpoint(checkpoint)
    config = state["config"]
    if method is None:
        spec = config.get("method")
        if not isinstance(spec, dict):
            raise ValueError(
                f"The checkpoint's method ({spec!r}) was not built by methods.build_method, so it "
                f"cannot be rebuilt; pass the module as evaluate(..., method=...)."
            )
        spec = dict(spec)
        method = methods.build_method(spec.pop("name"), **spec)
    method.load_state_dict(state["model"])
    if train_data is None:
        dataset = config.get("dataset")
        if dataset is None:
            raise ValueError("The checkpoint does not name its dataset; pass train_data (and eval_data).")
        train_data = data.load_dataset(dataset, "train", root=root)
        eval_data = eval_data if eval_data is not None else data.load_dataset(dataset, "test", root=root)
    device = torch.device(device) if device is not None else _default_device()
    method.to(device, memory_format=torch.channels_last)
    amp_dtype = autocast_dtype(config.get("amp", "auto"), device)  # the features fit's final probe saw
    train_x, train_y, test_x, test_y = _split_for_eval(train_data, eval_data, config.get("seed", 0))
    h_train = embed_images(method, train_x, device=device, amp_dtype=amp_dtype)
    h_test = embed_images(method, test_x, device=device, amp_dtype=amp_dtype)
    return {
        "epoch": int(state["epoch"]),
        "linear_accuracy": probes.linear_probe(h_train, train_y, h_test, test_y),
        "knn_accuracy": probes.knn_probe(h_train, train_y, h_test, test_y, k=min(knn_k, h_train.shape[0])),
    }
