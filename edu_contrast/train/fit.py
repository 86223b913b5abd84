r"""Training: ``fit`` a method on in-memory images, checkpoint every epoch, resume exactly.

The loop, one optimiser step:

    idx  = permutation[s·B : (s+1)·B]               (seeded, so a resumed run draws the same batches)
    x    = images[idx].float() / 255                (uint8 in memory → float on the device)
    x1, x2 = t₁(x), t₂(x),  t ~ 𝒜                   (``augment.batched``, on the device)
    L    = method.loss(x1, x2, labels)              (autocast: GPU, or CPU with AMX bfloat16)
    θ   ← AdamW(θ, ∇L, lr_s),  lr_s = lr · warm-up · cosine
    method.on_step_end(s / S)                       (momentum networks of MoCo/BYOL)

A step, from the views to the optimiser, reads in this file (the loop, ``train_step`` and its AdamW),
the method (``methods/simclr.py``: encoder and head by ``project_pair`` of ``methods/base.py``, then
the loss call) and the loss (``losses/infonce.py``). ``train_step`` reads
no tensor value, so on a GPU the CPU queues the next step while the GPU works: inside
``values_checked_by_caller()`` the losses skip their finiteness checks, and ``fit`` checks instead,
from numbers it reads anyway: the loss every 10 steps when the progress bar shows it, and after each
epoch the mean loss and every weight, before the checkpoint.

Augmenting whole batches on the device instead of one image at a time in DataLoader workers is
what makes training fast on a CPU as well as on a GPU. After each epoch the encoder is measured
(``monitor``: alignment, uniformity, effective ranks, positive cosine, kNN accuracy) and
``out_dir/checkpoint.pt`` is replaced atomically (``checkpoint``). At the end a linear probe on
the encoder features h gives the run's accuracy; ``evaluate`` re-probes a checkpoint.

Before anything is written, ``run_folder.open_run`` decides what ``out_dir`` means: a new run, the
run to continue (``resume``), or an old run to set aside (``overwrite``); a folder that holds a run
is never replaced silently. A loss or weights that stop being finite stop the run with
``TrainingDivergedError`` ("lower lr"), before a checkpoint of the diverged state is written.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from edu_contrast import augment, distributed, measure
from edu_contrast._validation import values_checked_by_caller
from edu_contrast.train import checkpoint, monitor, precision, run_folder
from edu_contrast.train.config import FitConfig
from edu_contrast.train.errors import TrainingDivergedError
from edu_contrast.train.evaluate import probe_split
from edu_contrast.train.precision import autocast_dtype
from edu_contrast.utils import autocast, default_device, to_float

__all__ = ["fit", "warmup_cosine", "two_views", "train_step", "Run", "prepare"]


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


def two_views(images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, aug: nn.Module):
    """x1, x2 = t₁(x), t₂(x) for the uint8 images ``images[idx]`` (on their device), and their labels."""
    x = to_float(images[idx], images.device)  # (b, C, H, W) float in [0, 1]
    return aug(x), aug(x), labels[idx]


def train_step(
    model: nn.Module, optimizer, scaler, x1, x2, labels, amp_dtype: torch.dtype | None
) -> torch.Tensor:
    """One optimiser step: loss under autocast, (scaled) backward, step. Returns the detached loss."""
    with autocast(x1.device, amp_dtype):
        loss = model(x1, x2, labels)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


@dataclass
class Run:
    """Everything the loop and its helpers share (``prepare`` builds it; ``checkpoint`` saves it).

    ``model`` is what the loss is called on (the DDP wrapper under torchrun), ``method`` the module
    whose state is saved and measured. ``images_per_epoch`` images make ``steps_per_epoch`` steps of
    ``cfg.batch_size``; ``total_steps`` is S of the schedule.
    """

    cfg: FitConfig
    method: nn.Module
    model: nn.Module
    device: torch.device
    amp_dtype: torch.dtype | None
    aug: augment.BatchAugment
    images: torch.Tensor  # (N, C, H, W) uint8 on the device
    labels: torch.Tensor  # (N,) on the device
    split: monitor.ProbeSplit  # the final linear probe's train / test images
    monitor_split: monitor.ProbeSplit  # the per-epoch record's fixed subsets of ``split``
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    data_generator: torch.Generator  # the batch order
    run_config: dict
    images_per_epoch: int  # drawn at random each epoch: all, or ``samples_per_epoch``
    steps_per_epoch: int
    total_steps: int
    rank: int = 0
    world: int = 1
    show_progress: bool = False  # the bar and the per-epoch lines (rank 0 only)
    history: list[dict] = field(default_factory=list)
    start_epoch: int = 0
    probe_seconds: float = 0.0  # the final linear probe's time

    def batch(self, idx: torch.Tensor):
        """This rank's share of the global batch ``idx`` ``(B,)``: two views and their labels."""
        mine = idx.view(self.world, -1)[self.rank].to(self.device)  # (world, B / world) → (B / world,)
        return two_views(self.images, self.labels, mine, self.aug)


def _seed(seed: int, rank: int) -> torch.Generator:
    """Seed every global generator; return the generator of the batch order (equal on all ranks)."""
    torch.manual_seed(seed + rank)  # augmentations differ between ranks; the batch order does not
    np.random.seed(seed)  # noqa: NPY002 (seeds students' np.random calls too)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def prepare(method: nn.Module, train_data, eval_data, cfg: FitConfig) -> Run:
    """Seeds, device, DDP, augmentation, data on the device, AdamW with warm-up + cosine, GradScaler."""
    device = torch.device(cfg.device) if cfg.device is not None else default_device()
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # this rank's GPU under torchrun
    amp_dtype = autocast_dtype(cfg.amp, device)
    rank, world = distributed.rank(), distributed.world_size()
    data_generator = _seed(cfg.seed, rank)
    method.to(device, memory_format=torch.channels_last)  # faster convolutions on CPU and GPU
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    model, method = distributed.wrap_for_training(method, device)
    n_images, channels, height, width = train_data.images.shape
    # RandBit's bit planes must stay identical in both views: the augmentation leaves them alone.
    protected = getattr(train_data, "protected_channels", 0)
    views = cfg.view_size or height  # the side of the augmented views
    aug = augment.batched(views, channels, cfg.augmentation(height), protected_channels=protected).to(device)
    images_per_epoch = cfg.samples_per_epoch or n_images
    steps_per_epoch = images_per_epoch // cfg.batch_size
    total_steps = max(1, cfg.epochs * steps_per_epoch)  # S
    warmup_steps = round(cfg.warmup * steps_per_epoch)  # W
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = lambda s: warmup_cosine(s, total_steps=total_steps, warmup_steps=warmup_steps)
    split = monitor.split_for_eval(train_data, eval_data, cfg.seed)
    return Run(
        cfg=cfg,
        method=method,
        model=model,
        device=device,
        amp_dtype=amp_dtype,
        aug=aug,
        images=train_data.images.to(device),  # uint8 in device memory: 60k 28×28 images are 47 MB
        labels=train_data.labels.to(device),
        split=split,
        monitor_split=monitor.monitor_subset(split, cfg.knn_train_size, cfg.knn_test_size, cfg.seed),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, schedule),
        scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        data_generator=data_generator,
        run_config=cfg.run_config(method, (channels, height, width)),
        images_per_epoch=images_per_epoch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        rank=rank,
        world=world,
        show_progress=cfg.progress and rank == 0,
    )


def fit(method: nn.Module, train_data, *, epochs: int, eval_data=None, callback=None, **settings) -> dict:
    r"""Train ``method`` on ``train_data`` with AdamW, warm-up + cosine learning rate, checkpoints.

    Args:
        method: a ``methods`` module (``loss``, ``embed``, ``project``, ``on_step_end``).
        train_data: ``data.ImageTensors`` (uint8 images in memory, labels used only by SupCon and probes).
        epochs: total number of epochs E. A resumed run continues up to E; an E other than the
            checkpoint's re-plans the learning-rate schedule over E epochs (``checkpoint``).
        eval_data: test ``ImageTensors`` for the monitor and the final linear probe (default:
            a fixed 20% of ``train_data`` held out).
        callback: called with each epoch's history entry (e.g. to plot live).
        **settings: every other field of ``FitConfig``, each documented there. Their defaults (in
            brackets) are general ones; ``**train.dataset_defaults(name).fit`` gives the CLI's per-dataset
            values (``train.defaults``).

            - optimiser: batch_size (256), lr (3e-4), weight_decay (1e-4), warmup_epochs (10% of epochs)
            - views: augment_config (``AugmentConfig.for_size(image side)``), view_size (the image side)
            - data: seed (0), samples_per_epoch (every image, each epoch)
            - machine: device (CUDA when available, else CPU), amp ("auto")
            - monitor and probe: knn_k (20), knn_train_size (10 000), knn_test_size (1 024),
              calibrate_bn (False: the final probe sees training's BatchNorm running averages)
            - run folder: out_dir (None: nothing written), resume (False), overwrite (False), config (None)
            - output: progress (True: a bar and one line per epoch)

    Returns:
        ``{"history": [...], "linear_accuracy": float, "checkpoint": path or None, "probe_seconds":
        float, "precision": str}`` (the final linear probe's time; ``precision.describe`` of the run).
        ``history[e]`` has ``epoch``, ``loss`` (mean training loss of epoch e), ``seconds`` and the keys
        of ``measure.embedding_report`` (see ``train.monitor``). Entry 0 is measured before any step.

    Raises:
        RunExistsError: ``out_dir`` holds a run, and neither ``resume`` nor ``overwrite`` was passed.
        ResumeMismatchError: ``resume=True`` with other settings than the checkpoint's (listed).
        TrainingDivergedError: the loss or the weights stopped being finite (lower ``lr``); found from the
            epoch's mean loss and weights (and the loss the progress bar reads), before a checkpoint.
    """
    cfg = FitConfig.from_settings(epochs=epochs, **settings).fitted_to(method, train_data, eval_data)
    cfg, saved = run_folder.open_run(cfg, method, tuple(train_data.images.shape[1:]))
    run = prepare(method, train_data, eval_data, cfg)
    B, S = cfg.batch_size, run.steps_per_epoch
    if saved is not None:
        checkpoint.restore(run, saved)
    if not run.history:  # epoch 0: the untrained model, before any step
        _record(run, 0, monitor.initial_loss(run), time.perf_counter())

    for epoch in range(run.start_epoch + 1, cfg.epochs + 1):
        start = time.perf_counter()
        run.method.train()
        order = torch.randperm(len(run.images), generator=run.data_generator)  # (N,)
        order = order[: run.images_per_epoch]  # (images_per_epoch,)
        bar = monitor.progress_bar(S, f"epoch {epoch}/{cfg.epochs}", run.show_progress)
        losses = []
        for s in range(S):
            x1, x2, y = run.batch(order[s * B : (s + 1) * B])  # two views of B images
            with values_checked_by_caller():  # no value read, no device sync: fit checks below
                losses.append(train_step(run.model, run.optimizer, run.scaler, x1, x2, y, run.amp_dtype))
            run.scheduler.step()
            run.method.on_step_end(((epoch - 1) * S + s + 1) / run.total_steps)
            shown = monitor.advance(bar, losses[-1], s + 1)  # the loss, read every 10 steps when shown
            if shown is not None and not math.isfinite(shown):
                monitor.close(bar)
                raise _diverged(run, epoch, _what_diverged(run, x1, shown))
        monitor.close(bar)
        _record(run, epoch, _epoch_loss(run, losses, epoch, x1), start)
        if callback is not None:
            callback(run.history[-1])

    linear_accuracy = _final_probe(run)
    checkpoint.save(run, cfg.epochs, linear_accuracy)
    path = str(cfg.out_dir / checkpoint.CHECKPOINT_NAME) if cfg.out_dir is not None else None
    return {
        "history": run.history,
        "linear_accuracy": linear_accuracy,
        "checkpoint": path,
        "probe_seconds": run.probe_seconds,
        "precision": precision.describe(run.amp_dtype, run.device),
    }


def _diverged(run: Run, epoch: int, what: str) -> TrainingDivergedError:
    lr = run.cfg.lr
    where = ""
    if run.cfg.out_dir is not None:
        where = (
            f" and start again with overwrite=True (the checkpoint in out_dir holds epoch "
            f"{run.history[-1]['epoch']}, from before)"
        )
    return TrainingDivergedError(
        f"Training diverged in epoch {epoch}: {what}. The learning rate is too high: lower lr "
        f"(lr={lr:g}; try lr={lr / 10:g}){where}."
    )


def _record(run: Run, epoch: int, loss: float, start: float) -> None:
    """Append the history entry of ``epoch``, print it, save the checkpoint."""
    with monitor.status(run.show_progress, f"epoch {epoch}: measuring (kNN, alignment, uniformity, ranks)"):
        run.history.append(monitor.epoch_record(run, epoch, loss, start))
    monitor.report(run.history[-1], run.cfg.epochs, run.show_progress)
    checkpoint.save(run, epoch)


def _epoch_loss(run: Run, losses: list[torch.Tensor], epoch: int, views: torch.Tensor) -> float:
    """Mean loss of the epoch over its steps and the ranks, read once; ``TrainingDivergedError`` when it or
    a weight or buffer is not finite (the steps read nothing, so this is where divergence is found)."""
    state_finite = bool(_state_is_finite(run.method))
    loss = distributed.all_reduce_mean(float(torch.stack(losses).float().mean()), run.device)
    if not (math.isfinite(loss) and state_finite):
        raise _diverged(run, epoch, _what_diverged(run, views, loss))
    return loss


def _what_diverged(run: Run, views: torch.Tensor, loss: float) -> str:
    """Non-finite embeddings of the last views (the weights gone), or else the loss alone."""
    with torch.no_grad(), autocast(run.device, run.amp_dtype):
        finite = bool(_state_is_finite(run.method)) and bool(torch.isfinite(run.method.project(views)).all())
    return f"the training loss became {loss}" if finite else "the embeddings are no longer finite numbers"


def _state_is_finite(method: nn.Module) -> torch.Tensor:
    """A 0-dim bool tensor (not read here): every floating-point weight and buffer of ``method`` is finite."""
    state = [t for t in method.state_dict().values() if t.is_floating_point()]
    return torch.stack([torch.isfinite(t).all() for t in state]).all()


def _final_probe(run: Run) -> float:
    """Linear-probe accuracy of the encoder features h on the full probe split (rank 0, shared), after
    ``calibrate_bn``'s clean-image BatchNorm statistics when it is set (on every rank, so they agree)."""
    accuracy = None
    start = time.perf_counter()
    if run.cfg.calibrate_bn:  # clean-image statistics, not the last augmented batches'; on every rank
        with autocast(run.device, run.amp_dtype):
            measure.calibrate_batchnorm(run.method, run.monitor_split.train_images, device=run.device)
    if run.rank == 0:
        n_train, n_test = run.split.train_images.shape[0], run.split.test_images.shape[0]
        monitor.say(
            run.show_progress, f"Final linear probe on encoder features ({n_train} train / {n_test} test)..."
        )
        probed = probe_split(run.method, run.split, run=("linear",), amp_dtype=run.amp_dtype)
        accuracy = probed["linear_accuracy"]
        run.probe_seconds = time.perf_counter() - start
        monitor.say(
            run.show_progress, f"Linear probe on encoder features: {accuracy:.4f} ({run.probe_seconds:.1f} s)"
        )
    return distributed.broadcast_object(accuracy)
