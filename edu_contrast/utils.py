"""Small helpers the notebooks and the training loop share: quick mode, seeds, device, one thread."""

from __future__ import annotations

import os
import platform
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast._version import __version__
from edu_contrast.budget import FULL_MODE_COSTS, FullModePlan, plan_full_mode

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


MODE_ENV = "EDU_CONTRAST_MODE"
SEED_ENV = "EDU_CONTRAST_SEED"
MODES = ("quick", "lab", "full")


@dataclass(frozen=True)
class Setup:
    """What a notebook runs with: ``mode`` (quick, lab or full), ``seed`` and ``device``.

    quick: the test suite's smoke run (seconds to a few minutes); lab: ≤ 10 min on 2 CPU cores, on
    data where the taught effect shows; full: the notebook's real scale (a GPU).
    """

    mode: str
    seed: int
    device: torch.device

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def pick(self, *, quick, lab, full):
        """The value for this run's mode: ``setup.pick(quick=1, lab=5, full=50)``."""
        return {"quick": quick, "lab": lab, "full": full}[self.mode]


def resolve_mode(
    mode: str = "auto", device: torch.device | None = None, *, plan: FullModePlan | None = None
) -> str:
    """The mode a notebook runs in.

    ``EDU_CONTRAST_QUICK=1`` forces quick (the tests), else ``EDU_CONTRAST_MODE`` overrides the notebook's
    ``MODE`` field. ``"auto"`` is lab on a CPU; on a GPU it is full, unless ``plan`` (the notebook's
    ``budget.plan_full_mode`` on this GPU) projects full mode past its budget: then lab.
    """
    if quick_mode():
        return "quick"
    chosen = os.environ.get(MODE_ENV, "").strip().lower() or mode
    if chosen not in (*MODES, "auto"):
        fail("MODE", "notebook_setup", 'one of "auto", "quick", "lab", "full"', chosen)
    if chosen == "auto":
        device = device or default_device()
        if device.type != "cuda":
            return "lab"
        return "full" if plan is None or plan.fits else "lab"
    return chosen


def plan_lines(plan: FullModePlan, requested: str, mode: str) -> list[str]:
    """What ``notebook_setup`` prints on a GPU: the plan, and why ``mode`` was chosen when it matters."""
    lines = [plan.summary()]
    over = f"{plan.projection} > BUDGET_MINUTES = {plan.budget_minutes}"
    if requested == "auto" and mode == "lab" and not plan.fits:
        lines.append(
            f'auto picked lab: full mode is {over}; set MODE = "full" (or raise BUDGET_MINUTES) to run it.'
        )
    elif mode == "full" and not plan.fits:
        lines.append(f'WARNING: {over}: full mode runs that long; set MODE = "lab" for a short run.')
    elif mode == "full":
        lines.append(f"full mode: {plan.projection} ≤ BUDGET_MINUTES = {plan.budget_minutes}.")
    return lines


def env_seed() -> int:
    """``EDU_CONTRAST_SEED`` (default 0): the seed ``make check-seeds`` varies."""
    text = os.environ.get(SEED_ENV, "0").strip() or "0"
    if not text.isdigit():
        fail(SEED_ENV, "notebook_setup", "a non-negative integer", text)
    return int(text)


def notebook_setup(
    mode: str = "auto", seed: int | None = None, *, budget_minutes: int = 30, notebook: str | None = None
) -> Setup:
    """Fix seeds, print versions, device and mode (and on a GPU the full-mode plan); return the ``Setup``.

    ``mode`` is the notebook's ``MODE`` form field (``resolve_mode``); ``seed`` defaults to
    ``EDU_CONTRAST_SEED`` (0 when unset). ``notebook`` is the notebook's stem ("09_simclr_cifar10") and
    ``budget_minutes`` its ``BUDGET_MINUTES`` field: on a GPU, ``budget.plan_full_mode`` projects the
    notebook's full mode, and ``"auto"`` picks full only within the budget.
    """
    seed = env_seed() if seed is None else seed
    budget_minutes = check_int(budget_minutes, "BUDGET_MINUTES", "notebook_setup")
    if notebook is not None:
        check_choice(notebook, "notebook", "notebook_setup", FULL_MODE_COSTS)
    seed_everything(seed)
    device = default_device()
    gpu_name = torch.cuda.get_device_name(0) if device.type == "cuda" else None
    plan = plan_full_mode(notebook, gpu_name, budget_minutes) if gpu_name and notebook else None
    setup = Setup(resolve_mode(mode, device, plan=plan), seed, device)
    gpu = f" ({gpu_name})" if gpu_name else ""
    print(
        f"edu_contrast {__version__} | torch {torch.__version__} | numpy {np.__version__} | "
        f"python {platform.python_version()} | device {device}{gpu} | MODE={setup.mode} | seed={seed}"
    )
    requested = os.environ.get(MODE_ENV, "").strip().lower() or mode
    for line in plan_lines(plan, requested, setup.mode) if plan else []:
        print(line)
    return setup


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a tiny optimisation on one CPU thread: for a few dozen points, threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
