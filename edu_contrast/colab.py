"""Colab realities: find the GPU (or say how to get one) and keep checkpoints where a disconnect cannot reach.

A free Colab session gives one GPU (a T4) when asked for it, a local disk that is wiped when the session
ends, and Google Drive if the student mounts it. ``train.fit(..., out_dir=..., resume=True)`` already
checkpoints every epoch and resumes exactly; these helpers only choose *where* the checkpoint lives:

    checkpoint_dir("simclr")  →  /content/drive/MyDrive/edu_contrast/simclr   (Drive mounted: survives)
                              →  runs/simclr                                  (otherwise: local disk)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from edu_contrast._validation import _fail

__all__ = [
    "DRIVE_MOUNT",
    "DRIVE_HOME",
    "ENABLE_GPU",
    "GPURequiredError",
    "in_colab",
    "mount_drive",
    "drive_mounted",
    "checkpoint_dir",
    "check_gpu",
]

DRIVE_MOUNT = Path("/content/drive")
DRIVE_HOME = DRIVE_MOUNT / "MyDrive"
PROJECT_FOLDER = "edu_contrast"
ENABLE_GPU = "Runtime → Change runtime type → T4 GPU → Save, then run the notebook again from the top"


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
        _fail("run_name", where, "a non-empty folder name without '/' (e.g. 'simclr_tau0.5')", repr(run_name))
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
            CIFAR-10 takes hours on a GPU and days on a CPU). False in quick mode — print how to
            enable a GPU and continue on the CPU.
    """
    if not isinstance(required, bool):
        _fail("required", "check_gpu", "a bool", f"{required!r} of type {type(required).__name__}", TypeError)
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        print(f"GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB.")
        return torch.device("cuda", 0)
    how = f"No GPU found. In Colab: {ENABLE_GPU}."
    if required:
        raise GPURequiredError(
            f"{how} Full mode trains a ResNet-18 on all 50 000 CIFAR-10 images for many epochs: hours on a "
            f"GPU, days on a CPU, so it does not start without one. To check the pipeline on a CPU instead, "
            f"run in quick mode (set the environment variable EDU_CONTRAST_QUICK=1 before starting Jupyter, "
            f"or os.environ['EDU_CONTRAST_QUICK'] = '1' and run the setup cell again): a tiny fake CIFAR-10 "
            f"and a small network, about a minute."
        )
    print(f"{how} Quick mode continues on the CPU.")
    return torch.device("cpu")
