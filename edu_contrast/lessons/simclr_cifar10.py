"""Notebook 09: SimCLR on CIFAR-10 on a Colab GPU: the augmentation family 𝒯, the GPU, durable checkpoints.

A positive pair is two draws x̃ = a(x), a ~ 𝒯, of SimCLR's augmentation family (Chen et al. 2020,
Sec. 3 and Appendix A), with colour-distortion strength s and minimum crop scale s_min:

    a = grayscale(p_g) ∘ jitter(0.8s, 0.8s, 0.8s, 0.2s; p = 0.8) ∘ flip(½) ∘ crop(scale ∈ [s_min, 1])

``simclr_step`` is one training step on the NT-Xent loss of two views (Algorithm 1).
``simclr_augment_config`` builds 𝒯, ``sample_views`` draws from the readable per-image pipeline
(``augment.per_image``) and the batched one the training loop uses (``augment.batched``).

Lab mode (a CPU, ≤ 10 min) runs the same pipeline on a stand-in with CIFAR-10's input shape:
``rgb32_stand_in`` turns 28×28 grayscale Fashion-MNIST into 32×32 RGB images.

Colab realities: a free session gives one GPU (a T4) when asked for it, a local disk that is wiped when
the session ends, and Google Drive if the student mounts it. ``train.fit(..., out_dir=..., resume=True)``
checkpoints every epoch and resumes exactly; these helpers only choose *where* the checkpoint lives:

    checkpoint_dir("simclr")  →  /content/drive/MyDrive/edu_contrast/simclr   (Drive mounted: survives)
                              →  runs/simclr                                  (otherwise: local disk)

``RECIPES`` holds full mode's two recipes: "fast" (ResNet-18, τ = 0.5, batch 512, 200 epochs) and
"reference", the course brief's (ResNet-50, τ = 0.07, batch 256, 80 epochs, blur and solarize, no
warm-up, a linear probe on frozen f(x) every 10 epochs written to the run folder by ``ProbeEvery``).

The τ pilots' check: ``temperature_effects`` (the lower τ holds two views closer), and ``check_effect``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from edu_contrast import augment, data, losses, measure, methods, models, probes
from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.lessons._cache import _read, _write
from edu_contrast.lessons._simclr_cifar10_effects import check_effect, temperature_effects

__all__ = [
    "simclr_step",
    "simclr_augment_config",
    "as_image",
    "sample_views",
    "CIFAR_SIDE",
    "rgb32_stand_in",
    "DRIVE_MOUNT",
    "DRIVE_HOME",
    "ENABLE_GPU",
    "GPURequiredError",
    "in_colab",
    "mount_drive",
    "drive_mounted",
    "checkpoint_dir",
    "check_gpu",
    "reference_augment_config",
    "Recipe",
    "RECIPES",
    "ProbeEvery",
    "temperature_effects",
    "check_effect",
]


def simclr_step(encoder, projector, optimizer, x1, x2, temperature: float) -> torch.Tensor:
    r"""One SimCLR training step (Chen et al. 2020, Algorithm 1); returns L before the step, detached.

        z = g(f(x̃)),   L = (1/2N) Σ_{i=1..2N} −log [exp(s_{ii⁺}/τ) / Σ_{k≠i} exp(s_ik/τ)],
        θ ← one optimizer step on ∇_θ L (the gradients zeroed first)

    ``encoder`` f, ``projector`` g, ``x1``, ``x2`` the two views ``(N, C, H, W)``, τ = ``temperature``; L is
    ``losses.nt_xent``. One forward pass over both views, so BatchNorm normalises over all 2N as in SimCLR.
    """
    x = torch.cat([x1, x2])  # (2N, C, H, W): both views in one pass
    z1, z2 = projector(encoder(x)).chunk(2)  # (N, d) each; row i of z1 and of z2 are a positive pair
    loss = losses.nt_xent(z1, z2, temperature=temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


DRIVE_MOUNT = Path("/content/drive")
DRIVE_HOME = DRIVE_MOUNT / "MyDrive"
PROJECT_FOLDER = "edu_contrast"
ENABLE_GPU = "Runtime → Change runtime type → T4 GPU → Save, then run the notebook again from the top"
CIFAR_SIDE = 32  # CIFAR-10 images are 3 × 32 × 32


def simclr_augment_config(
    crop_min_scale: float = 0.2, color_strength: float = 0.5, grayscale_p: float = 0.2
) -> augment.AugmentConfig:
    """SimCLR's 𝒯 with colour-distortion strength s (Chen et al. 2020, Appendix A).

    ``crop_min_scale`` is s_min (the crop keeps an area fraction in [s_min, 1]); ``color_strength`` is s,
    giving brightness, contrast and saturation jitter 0.8s and hue jitter 0.2s, applied with
    probability 0.8; ``grayscale_p`` is p_g. s = 0.5 and s_min = 0.2 are the CIFAR-10 defaults
    (``AugmentConfig()``); s ≤ 1.25 keeps the jitter factors 1 ± 0.8s non-negative.
    """
    where = "simclr_augment_config"
    crop_min_scale = check_positive(crop_min_scale, "crop_min_scale", where)
    if crop_min_scale > 1:
        fail("crop_min_scale", where, "in (0, 1]", crop_min_scale)
    s = check_positive(color_strength, "color_strength", where, allow_zero=True)
    if s > 1.25:
        fail("color_strength", where, "in [0, 1.25] (0.8·s is a jitter factor ≤ 1)", s)
    grayscale_p = check_positive(grayscale_p, "grayscale_p", where, allow_zero=True)
    if grayscale_p > 1:
        fail("grayscale_p", where, "a probability in [0, 1]", grayscale_p)
    return augment.AugmentConfig(
        crop_scale=(crop_min_scale, 1.0),
        brightness=0.8 * s,
        contrast=0.8 * s,
        saturation=0.8 * s,
        hue=0.2 * s,
        grayscale_p=grayscale_p,
    )


def as_image(image, name: str, where: str) -> torch.Tensor:
    """A float (3, H, W) image in [0, 1] from a uint8 or float tensor or array."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor):
        fail(name, where, "a (3, H, W) image tensor", f"an object of type {type(image).__name__}", TypeError)
    if image.dim() != 3 or image.shape[0] != 3:
        fail(name, where, "a (3, H, W) RGB image", f"shape {tuple(image.shape)}")
    return image.float().div(255) if image.dtype == torch.uint8 else image.float().clamp(0, 1)


def sample_views(
    image, config: augment.AugmentConfig | None = None, *, n_views: int = 6, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_views`` draws a(x) from ``per_image`` and from ``batched``: two ``(n_views, 3, H, W)`` tensors.

    Seeded and isolated: the notebook's random state is the same before and after.
    """
    where = "sample_views"
    x = as_image(image, "image", where)  # (3, H, W)
    n_views = check_int(n_views, "n_views", where)
    size = x.shape[-1]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        one = augment.per_image(size, 3, config)
        per_image = torch.stack([one(x) for _ in range(n_views)])  # (n_views, 3, H, W)
        batched = augment.batched(size, 3, config)(x.expand(n_views, -1, -1, -1).contiguous())
    return per_image, batched


def rgb32_stand_in(dataset: data.ImageTensors) -> data.ImageTensors:
    """Grayscale images (Fashion-MNIST, 28×28) as 32×32 RGB images: CIFAR-10's input shape, not CIFAR-10.

        x ∈ {0 … 255}^(1×H×W)  →  black border to 32×32  →  the gray channel three times: {0 … 255}^(3×32×32)

    Labels and class names are kept. On gray images SimCLR's colour jitter only changes brightness and
    contrast (saturation and hue leave a gray pixel gray), so the stand-in has no colour shortcut.
    """
    where = "rgb32_stand_in"
    if not isinstance(dataset, data.ImageTensors):
        fail("dataset", where, "an ImageTensors (data.load_dataset)", type(dataset).__name__, TypeError)
    _, channels, height, width = dataset.images.shape
    if channels != 1 or height > CIFAR_SIDE or width > CIFAR_SIDE:
        fail(
            "dataset",
            where,
            "grayscale images of side ≤ 32",
            f"images of shape {tuple(dataset.images.shape[1:])}",
        )
    top, left = (CIFAR_SIDE - height) // 2, (CIFAR_SIDE - width) // 2
    border = (left, CIFAR_SIDE - width - left, top, CIFAR_SIDE - height - top)  # (left, right, top, bottom)
    padded = F.pad(dataset.images, border)  # (N, 1, 32, 32), black border
    rgb = padded.expand(-1, 3, -1, -1).contiguous()  # (N, 3, 32, 32): R = G = B
    return data.ImageTensors(rgb, dataset.labels.clone(), dataset.classes)


class GPURequiredError(RuntimeError):
    """Full mode was asked for on a machine without a CUDA GPU."""


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def drive_mounted(drive_home: str | os.PathLike = DRIVE_HOME) -> bool:
    """True when Google Drive is mounted, i.e. ``drive_home`` (``/content/drive/MyDrive``) is a folder."""
    return Path(drive_home).is_dir()


def mount_drive(mount_point: str | os.PathLike = DRIVE_MOUNT) -> bool:
    """Mount Google Drive in Colab (Colab asks for permission once). Returns whether Drive is now mounted.

    Outside Colab, or if the student declines, nothing happens and checkpoints stay on the local disk.
    """
    if not in_colab():
        print("Not in Colab: checkpoints go to a local folder.")
        return False
    from google.colab import drive  # only importable inside Colab

    try:
        drive.mount(str(mount_point))
    except Exception as error:  # declined, timed out or quota: not fatal, only less durable
        print(
            f"Google Drive was not mounted ({type(error).__name__}: {error}). Checkpoints stay on the Colab "
            f"disk, which is wiped when the session ends."
        )
        return False
    return drive_mounted(Path(mount_point) / "MyDrive")


def checkpoint_dir(
    run_name: str, *, local_root: str | os.PathLike = "runs", drive_home: str | os.PathLike = DRIVE_HOME
) -> Path:
    """The folder for ``run_name``'s ``checkpoint.pt``, created: on Google Drive when mounted, else local.

    Drive: ``drive_home/edu_contrast/run_name``; otherwise ``local_root/run_name``. Run the notebook
    again with the same ``run_name`` and ``train.fit(..., resume=True)`` continues from there.
    """
    where = "checkpoint_dir"
    if not isinstance(run_name, str) or run_name in ("", ".", "..") or Path(run_name).name != run_name:
        fail("run_name", where, "a non-empty folder name without '/' (e.g. 'simclr_tau0.5')", repr(run_name))
    if drive_mounted(drive_home):
        folder, note = Path(drive_home) / PROJECT_FOLDER / run_name, "on Google Drive (survives a disconnect)"
    else:
        folder = Path(local_root) / run_name
        note = "on the local disk" + (
            " (wiped when the Colab session ends: mount Drive to keep it)" if in_colab() else ""
        )
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Checkpoints for {run_name!r}: {folder} {note}")
    return folder


def check_gpu(*, required: bool) -> torch.device:
    """The CUDA device when there is one; otherwise say how to enable it and return the CPU, or refuse.

    Args:
        required: True in full mode — without a GPU raise ``GPURequiredError`` (training ResNet-18 on
            CIFAR-10 takes hours on a GPU and days on a CPU). False in lab and quick mode — print how
            to enable a GPU and continue on the CPU.
    """
    if not isinstance(required, bool):
        fail("required", "check_gpu", "a bool", f"{required!r} of type {type(required).__name__}", TypeError)
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        print(f"GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB.")
        return torch.device("cuda", 0)
    how = f"No GPU found. In Colab: {ENABLE_GPU}."
    if required:
        raise GPURequiredError(
            f"{how} Full mode trains a ResNet-18 on all 50 000 CIFAR-10 images for many epochs: hours on a "
            f"GPU, days on a CPU, so it does not start without one. To run the same pipeline on a CPU "
            f'instead, set MODE = "lab" (or "auto") in the setup cell and run the notebook again: '
            f"a small network on a 32×32 stand-in (Fashion-MNIST), a few minutes."
        )
    print(f"{how} Lab and quick mode continue on the CPU.")
    return torch.device("cpu")


def reference_augment_config() -> augment.AugmentConfig:
    """The course brief's 𝒯: SimCLR's CIFAR-10 crop, flip and jitter (s = 0.5, s_min = 0.2) plus Gaussian blur
    (p = 0.5, σ ~ U(0.1, 2), a 3×3 kernel at 32×32) and solarize (p = 0.2), the probabilities of
    ``AugmentConfig.strong`` (BYOL's, Grill et al. 2020, averaged over its two asymmetric views)."""
    return dataclasses.replace(simclr_augment_config(), blur_p=0.5, solarize_p=0.2)


@dataclass(frozen=True)
class Recipe:
    """A full-mode SimCLR recipe for CIFAR-10: the encoder ``models.build_encoder(encoder, 3)``, τ =
    ``temperature``, batch N = ``batch_size``, AdamW (``lr``, ``weight_decay``) with ``warmup_epochs`` of
    warm-up (None: fit's 10 %) then cosine, ``augment_config`` 𝒯, and a linear probe on frozen f(x) every
    ``probe_every`` epochs (None: only fit's final one); ``target`` is the linear accuracy aimed at."""

    name: str
    encoder: str
    temperature: float
    batch_size: int
    epochs: int
    augment_config: augment.AugmentConfig
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_epochs: float | None = None
    probe_every: int | None = None
    target: float = 0.88

    def make_method(self) -> methods.SimCLR:
        """SimCLR on a fresh encoder (seed first for reproducible weights)."""
        return methods.SimCLR(models.build_encoder(self.encoder, 3), temperature=self.temperature)

    def fit_settings(self) -> dict:
        """``train.fit``'s settings of the recipe (add device, seed, out_dir, ...)."""
        names = ("batch_size", "lr", "weight_decay", "warmup_epochs", "augment_config")
        return {name: getattr(self, name) for name in names}


RECIPES = {
    "fast": Recipe("fast", "resnet18", temperature=0.5, batch_size=512, epochs=200,
                   augment_config=simclr_augment_config()),
    "reference": Recipe("reference", "resnet50", temperature=0.07, batch_size=256, epochs=80,
                        augment_config=reference_augment_config(), warmup_epochs=0.0, probe_every=10),
}  # fmt: skip


class ProbeEvery:
    r"""``train.fit``'s callback: every ``every`` epochs (and after the last), the linear probe of frozen h.

        h = f_θ(x) of the clean training and test images,  acc_e = LinearProbe(h_train, y) on h_test

    (logistic regression, ``probes.linear_probe``; Chen et al. 2020, linear evaluation). One row per
    probed epoch ``{"epoch", "linear_accuracy", "knn_accuracy", "seconds"}``, kept in ``rows`` and
    written atomically to ``path`` (a JSON list, next to the checkpoint on Drive) after each probe; a
    new session reads the file back, so the table survives a disconnect and no epoch is probed twice.
    """

    def __init__(self, method, train_data, test_data, path, *, every: int, epochs: int, device=None):
        self.every = check_int(every, "every", "ProbeEvery")
        self.epochs = check_int(epochs, "epochs", "ProbeEvery")
        self.method, self.train_data, self.test_data, self.device = method, train_data, test_data, device
        self.path = Path(path)
        self.rows = (_read(self.path) or []) if self.path.is_file() else []

    def __call__(self, record: dict) -> None:
        epoch = record["epoch"]
        due = epoch % self.every == 0 or epoch == self.epochs
        if not due or any(row["epoch"] == epoch for row in self.rows):
            return
        start = time.perf_counter()
        h_train = measure.embed(self.method, self.train_data.images, device=self.device)  # (N, feature_dim)
        h_test = measure.embed(self.method, self.test_data.images, device=self.device)  # (n, feature_dim)
        accuracy = probes.linear_probe(h_train, self.train_data.labels, h_test, self.test_data.labels)
        seconds = time.perf_counter() - start
        row = {"epoch": epoch, "linear_accuracy": accuracy, "knn_accuracy": record.get("knn_accuracy")}
        self.rows.append(row | {"seconds": seconds})
        _write(self.path, self.rows)
        print(f"    epoch {epoch}: linear probe {accuracy:.3f} ({seconds:.0f} s) → {self.path}")
