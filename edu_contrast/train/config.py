"""``FitConfig``: every setting of a training run, checked in one place.

``fit(method, train_data, epochs=..., **settings)`` builds ``FitConfig(epochs=epochs, **settings)``;
its ``__post_init__`` checks each value on its own, ``fitted_to`` checks them against the method,
the data and the machine (a batch no larger than an epoch, divisible by the number of processes; a
device that exists; mixed precision it supports). ``run_config`` is the plain dict stored in the
checkpoint: a resumed run must agree with it on every key but ``epochs`` (``config_differences``).

The defaults below are general, tuned to no dataset. The CLI's per-dataset values (encoder, batch,
lr, views, calibration) are in ``train.defaults``: ``fit(..., **dataset_defaults(name).fit)`` runs them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edu_contrast import augment, distributed
from edu_contrast._validation import check_choice, check_int, check_positive, fail
from edu_contrast.train.precision import AMP_CHOICES, autocast_dtype, check_device

WHERE = "fit"  # error messages name the function a student called
NOT_COMPARED = ("epochs", "replanned")  # run_config keys a resumed run may change (fit re-plans)
METHOD_API = ("loss", "embed", "project", "on_step_end")

__all__ = ["FitConfig", "NOT_COMPARED", "config_differences"]


@dataclass
class FitConfig:
    r"""The settings of ``fit`` (all keyword arguments but ``eval_data`` and ``callback``).

    Attributes:
        epochs: total number of epochs E (a resumed run continues up to E).
        batch_size: global batch B (split over the processes under DDP).
        lr, weight_decay: AdamW's peak learning rate and decoupled weight decay.
        warmup_epochs: linear warm-up length W (default 10% of ``epochs``; when resuming, the
            checkpoint's), then cosine to 0, per step. ``warmup`` is the value in use.
        augment_config: the distribution 𝒜 (default ``AugmentConfig.for_size(image side)``; when
            resuming, the checkpoint's).
        view_size: side of the augmented views, the random resized crop's output (default the image
            side). A smaller side makes a step cheaper (the encoder's cost grows with the area), and
            since random resized crops enlarge objects, views smaller than the test images show objects
            at closer to their test size (Touvron et al. 2019, "Fixing the train-test resolution
            discrepancy", Sec. 3). The probes, the monitor's kNN, uniformity and ranks see whole
            images, whose BatchNorm statistics differ from the views' (their Sec. 3.2; ``calibrate_bn``
            re-estimates them); alignment and positive cosine compare pairs of views of this side. The
            Fashion-MNIST default of ``train.defaults``: views of 20 on images of 28 (docs/benchmarks.md).
        seed: seeds the batch order, the augmentations and every other random number.
        samples_per_epoch: use a fresh random subset of this many images per epoch (default all).
        amp: mixed precision, "auto" (GPU: bf16 where supported, else fp16 with a GradScaler; CPU:
            bf16 where it is fast, see ``precision.cpu_has_fast_bfloat16``), "bf16", "fp16" (CUDA) or "off".
        knn_k, knn_train_size, knn_test_size: the per-epoch monitor: k neighbours, on fixed random
            subsets of the probe's train and test images (the test subset is also where alignment,
            uniformity and the effective ranks are measured; the final linear probe uses all images).
        calibrate_bn: before the final linear probe, re-estimate every BatchNorm's statistics on the
            monitor's clean training images (``measure.calibrate_batchnorm``, as for epoch 0) and keep
            them in the checkpoint; it changes no weight, only BatchNorm buffers. Training leaves
            running averages over the last batches of *augmented* views (of ``view_size``), which are
            not the statistics of the whole clean images a probe or a server sees (Touvron et al.
            2019, Sec. 3.2). What it buys in accuracy, measured (docs/benchmarks.md; Fashion-MNIST,
            ``train.defaults``, Xeon without AMX, float32): no gain. With it, seeds 0–2 give
            0.8970–0.8987; without it only seed 0 was run: 0.9000, against 0.8972 with it (−0.28
            points, one seed; the calibrated seeds spread over 0.17). On lightly's encoder in the same
            benchmark it moved seeds 0–2 by +0.58, −0.27 and −0.22 points: no consistent sign. It
            is on in ``train.defaults`` so that a checkpoint carries the BatchNorm statistics of the
            images it is probed and served on; off here.
        out_dir: where ``checkpoint.pt`` and ``metrics.json`` go (None: nothing written). A folder
            that already holds a run is refused (``RunExistsError``) unless ``resume`` or ``overwrite``.
        resume: continue the run in ``out_dir/checkpoint.pt`` (if there is none, say so and start a new
            one). Every setting must equal the checkpoint's, except ``epochs``: a larger (or smaller, but
            not below the checkpoint's epoch) value re-plans the schedule (``train.fit``).
        overwrite: start a new run in an ``out_dir`` that holds one; the old run is kept as
            ``checkpoint.prev.pt`` / ``metrics.prev.json`` until the new run has saved its first epoch.
        device: default CUDA when available, else CPU.
        progress: show a tqdm bar and one line per epoch.
        config: extra plain values stored in the checkpoint (the CLI stores the dataset name).
    """

    epochs: int
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: float | None = None
    augment_config: augment.AugmentConfig | None = None
    view_size: int | None = None
    seed: int = 0
    samples_per_epoch: int | None = None
    amp: str = "auto"
    knn_k: int = 20
    knn_train_size: int = 10_000
    knn_test_size: int = 1_024
    calibrate_bn: bool = False
    out_dir: str | os.PathLike | None = None
    resume: bool = False
    overwrite: bool = False
    device: str | torch.device | None = None
    progress: bool = True
    config: dict | None = None

    def __post_init__(self) -> None:
        self.epochs = check_int(self.epochs, "epochs", WHERE, minimum=0)
        self.batch_size = check_int(self.batch_size, "batch_size", WHERE, minimum=2)
        self.lr = check_positive(self.lr, "lr", WHERE)
        self.weight_decay = check_positive(self.weight_decay, "weight_decay", WHERE, allow_zero=True)
        if self.warmup_epochs is not None:
            self.warmup_epochs = check_positive(self.warmup_epochs, "warmup_epochs", WHERE, allow_zero=True)
        if self.view_size is not None:
            self.view_size = check_int(self.view_size, "view_size", WHERE)
        self.seed = check_int(self.seed, "seed", WHERE, minimum=0)
        if self.samples_per_epoch is not None:
            self.samples_per_epoch = check_int(self.samples_per_epoch, "samples_per_epoch", WHERE, minimum=2)
        self.amp = check_choice(self.amp, "amp", WHERE, AMP_CHOICES)
        self.knn_k = check_int(self.knn_k, "knn_k", WHERE)
        self.knn_train_size = check_int(self.knn_train_size, "knn_train_size", WHERE)
        self.knn_test_size = check_int(self.knn_test_size, "knn_test_size", WHERE, minimum=2)
        if not isinstance(self.calibrate_bn, bool):
            fail("calibrate_bn", WHERE, "True or False", self.calibrate_bn, TypeError)
        for flag in ("resume", "overwrite"):
            if getattr(self, flag) and self.out_dir is None:
                fail("out_dir", WHERE, f"a directory when {flag}=True", None)
        if self.resume and self.overwrite:
            fail("overwrite", WHERE, "False when resume=True (resume continues, overwrite replaces)", True)
        self.out_dir = Path(self.out_dir) if self.out_dir is not None else None

    @property
    def warmup(self) -> float:
        """W in epochs: ``warmup_epochs``, by default 10% of ``epochs``."""
        return 0.1 * self.epochs if self.warmup_epochs is None else self.warmup_epochs

    @classmethod
    def from_settings(cls, **settings) -> FitConfig:
        """``FitConfig(**settings)``, where a misspelt name says which names there are."""
        names = [f.name for f in dataclasses.fields(cls)]
        for name in settings:
            if name not in names:
                fail(
                    name,
                    WHERE,
                    f"one of FitConfig's fields ({', '.join(names)})",
                    "an unknown keyword",
                    TypeError,
                )
        return cls(**settings)

    def fitted_to(self, method: nn.Module, train_data, eval_data=None) -> FitConfig:
        """This config checked against the method, the data and the machine; ``samples_per_epoch`` <= N."""
        if not isinstance(method, nn.Module) or not all(
            callable(getattr(method, m, None)) for m in METHOD_API
        ):
            fail(
                "method",
                WHERE,
                "an nn.Module with loss, embed, project and on_step_end (see edu_contrast.methods)",
                f"an object of type {type(method).__name__}",
                TypeError,
            )
        _check_image_tensors(train_data, "train_data")
        if eval_data is not None:
            _check_image_tensors(eval_data, "eval_data")
        n_images = train_data.images.shape[0]
        samples = None if self.samples_per_epoch is None else min(self.samples_per_epoch, n_images)
        used = samples or n_images
        if self.batch_size > used:
            source = f"samples_per_epoch={samples}" if samples else f"{n_images} training images"
            fail(
                "batch_size",
                WHERE,
                f"<= the number of images used per epoch ({source}): lower batch_size"
                + (" or raise samples_per_epoch" if samples and samples < n_images else ""),
                self.batch_size,
            )
        world = distributed.world_size()
        if self.batch_size % world:
            fail("batch_size", WHERE, f"divisible by the number of processes ({world})", self.batch_size)
        autocast_dtype(self.amp, check_device(self.device, WHERE))  # a device that exists, an amp it has
        return dataclasses.replace(self, samples_per_epoch=samples)

    def augmentation(self, image_side: int) -> augment.AugmentConfig:
        """𝒜 in use: ``augment_config``, by default ``AugmentConfig.for_size(image_side)``."""
        return self.augment_config or augment.AugmentConfig.for_size(image_side)

    def run_config(self, method: nn.Module, image_shape) -> dict:
        """The plain dict stored in the checkpoint; a resumed run must agree on all but ``NOT_COMPARED``."""
        return {
            "method": getattr(method, "spec", type(method).__name__),
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "warmup_epochs": self.warmup,
            "seed": self.seed,
            "samples_per_epoch": self.samples_per_epoch,
            "world_size": distributed.world_size(),
            "amp": self.amp,
            "augment": dataclasses.asdict(self.augmentation(image_shape[1])),
            "view_size": self.view_size,  # None (the image side) also matches a checkpoint without it
            "image_shape": list(image_shape),  # [C, H, W]
            **(self.config or {}),
        }


def _plain(value):
    """Tuples as lists, recursively (a checkpoint may hold either), so equal settings compare equal."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return {k: _plain(v) for k, v in value.items()} if isinstance(value, dict) else value


def config_differences(saved: dict, current: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """``(key, checkpoint's value, value now)`` for every key but ``NOT_COMPARED`` on which two run
    configs differ; nested dicts (``method``, ``augment``) key by key, as ``"augment.crop_scale"``."""
    found = []
    for key in dict.fromkeys([*saved, *current]):
        if not prefix and key in NOT_COMPARED:
            continue
        old, new = _plain(saved.get(key)), _plain(current.get(key))
        if isinstance(old, dict) and isinstance(new, dict):
            found += config_differences(old, new, f"{prefix}{key}.")
        elif old != new:
            found.append((f"{prefix}{key}", old, new))
    return found


def _check_image_tensors(data, name: str) -> None:
    """An ImageTensors-like object: uint8 ``.images`` (N, C, H, W) and ``.labels`` (N,)."""
    images, labels = getattr(data, "images", None), getattr(data, "labels", None)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        fail(
            name,
            WHERE,
            "an ImageTensors (data.load_dataset) with uint8 .images of shape (N, C, H, W)",
            f"an object of type {type(data).__name__}",
            TypeError,
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        fail(
            name,
            WHERE,
            "an ImageTensors whose .labels has shape (N,)",
            f"labels of shape {tuple(labels.shape) if isinstance(labels, torch.Tensor) else None}",
        )
