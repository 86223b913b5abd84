"""Small helpers the notebooks and the training loop share: quick mode, seeds, device, one thread."""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from edu_contrast._version import __version__

QUICK_ENV = "EDU_CONTRAST_QUICK"


def quick_mode() -> bool:
    """True when ``EDU_CONTRAST_QUICK=1``: the notebooks then use small data and few epochs (tests, CPU)."""
    return os.environ.get(QUICK_ENV, "0").strip().lower() in {"1", "true", "yes"}


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a notebook run is repeatable."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 — students call np.random.* in notebooks
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device() -> torch.device:
    """CUDA when available (Colab GPU), else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def to_float(images_uint8: torch.Tensor, device) -> torch.Tensor:
    """uint8 (B, C, H, W) → float in [0, 1] on ``device``, channels_last (faster convolutions)."""
    x = images_uint8.to(device, non_blocking=True).float().div_(255)  # (B, C, H, W)
    return x.contiguous(memory_format=torch.channels_last)


def autocast(device: torch.device, amp_dtype: torch.dtype | None):
    """``torch.autocast`` to ``amp_dtype`` on ``device``'s type; no-op when ``amp_dtype`` is None."""
    return torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None)


def notebook_setup(seed: int = 0) -> bool:
    """Fix seeds, print versions and the device, and return ``QUICK`` for the notebook's first cell."""
    seed_everything(seed)
    quick = quick_mode()
    device = default_device()
    gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
    print(
        f"edu_contrast {__version__} | torch {torch.__version__} | numpy {np.__version__} | "
        f"python {platform.python_version()} | device {device}{gpu} | QUICK={quick} | seed={seed}"
    )
    return quick


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a tiny optimisation on one CPU thread: for a few dozen points, threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
