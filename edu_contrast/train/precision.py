"""Mixed precision: which autocast dtype a training run uses on which device.

Autocast runs matrix products and convolutions in a 16-bit float and keeps reductions in float32.
bfloat16 has float32's exponent range (no overflow, no loss scaling); float16 has more mantissa bits
but overflows above 65504, so float16 training needs a ``GradScaler`` (``fit`` makes one). GPUs compute in
bfloat16 from compute capability 8.0 (Ampere: A100, L4, RTX 30xx; Hopper: H100); older ones (Colab's T4: 7.5,
V100: 7.0) only emulate it, slowly, so they train in float16 with loss scaling.
"""

from __future__ import annotations

import torch

from edu_contrast._validation import check_choice, fail
from edu_contrast.utils import default_device

AMP_CHOICES = ("auto", "bf16", "fp16", "off")
BF16_MIN_CAPABILITY = (8, 0)  # the first CUDA compute capability with bfloat16 tensor cores (Ampere)

__all__ = [
    "AMP_CHOICES",
    "cpu_has_fast_bfloat16",
    "cuda_has_fast_bfloat16",
    "autocast_dtype",
    "describe",
    "check_device",
]


def check_device(device, where: str) -> torch.device:
    """``device`` as a ``torch.device`` that this machine has (None: ``utils.default_device()``)."""
    if device is None:
        return default_device()
    try:
        checked = torch.device(device)
    except (RuntimeError, TypeError):
        fail("device", where, "a device such as 'cpu', 'cuda' or 'cuda:1'", repr(device))
    if checked.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            fail("device", where, "'cpu' on this machine (PyTorch finds no CUDA GPU)", repr(str(device)))
        if checked.index is not None and checked.index >= count:
            gpus = f"one of this machine's {count} GPUs (cuda:0 to cuda:{count - 1})"
            fail("device", where, gpus, repr(str(device)))
    elif checked.type == "mps" and not torch.backends.mps.is_available():
        fail("device", where, "'cpu' on this machine (no Apple GPU is available)", repr(str(device)))
    elif checked.type not in ("cpu", "cuda", "mps"):
        fail("device", where, "'cpu' or 'cuda' (or 'cuda:N', 'mps')", repr(str(device)))
    return checked


def cpu_has_fast_bfloat16() -> bool:
    """True on CPUs with AMX bfloat16 units (Intel Sapphire Rapids and later), where bf16 autocast is ~2-3×
    faster than float32; elsewhere bfloat16 on a CPU is emulated and slower."""
    try:
        with open("/proc/cpuinfo") as f:
            return "amx_bf16" in f.read()
    except OSError:
        return False


def cuda_has_fast_bfloat16(device: torch.device) -> bool:
    """True on GPUs of compute capability ≥ 8.0, which compute in bfloat16.

    Not ``torch.cuda.is_bf16_supported()``: by default it also counts emulation, so it says True on a T4
    (7.5), where bfloat16 autocast runs emulated and slower than float16.
    """
    props = torch.cuda.get_device_properties(device)
    return (props.major, props.minor) >= BF16_MIN_CAPABILITY


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device`` (None: float32).

    "auto": bfloat16 on GPUs of compute capability ≥ 8.0 (A100, H100), else float16 with a GradScaler (T4,
    V100; ``cuda_has_fast_bfloat16``); on the CPU bfloat16 only where it is fast (``cpu_has_fast_bfloat16``).
    float16 needs CUDA.
    """
    amp = check_choice(amp, "amp", "autocast_dtype", AMP_CHOICES)
    if amp == "off":
        return None
    if device.type != "cuda":
        if amp == "fp16":
            fail("amp", "fit", "'bf16', 'auto' or 'off' on the CPU (float16 training needs CUDA)", "'fp16'")
        return torch.bfloat16 if amp == "bf16" or cpu_has_fast_bfloat16() else None
    if amp == "bf16" or (amp == "auto" and cuda_has_fast_bfloat16(device)):
        return torch.bfloat16
    return torch.float16


def describe(amp_dtype: torch.dtype | None, device: torch.device) -> str:
    """The precision a run trained in, and why, for its summary: e.g. "float32 (CPU without AMX …)"."""
    if amp_dtype is None:
        if device.type == "cpu" and not cpu_has_fast_bfloat16():
            return "float32 (this CPU has no AMX: bfloat16 would be emulated and slower)"
        return "float32"
    name = "bfloat16" if amp_dtype == torch.bfloat16 else "float16"
    if device.type == "cpu":
        why = "AMX" if cpu_has_fast_bfloat16() else "forced with --amp bf16; slower without AMX"
        return f"{name} autocast ({why})"
    text = f"{name} autocast on {device.type}" + (" with loss scaling" if name == "float16" else "")
    if device.type != "cuda" or not torch.cuda.is_available():
        return text
    props = torch.cuda.get_device_properties(device)
    if cuda_has_fast_bfloat16(device):
        why = "bfloat16 in hardware"
    else:
        why = "no bfloat16 hardware" + (": emulated, slower than float16" if name == "bfloat16" else "")
    return f"{text} ({props.name}, compute capability {props.major}.{props.minor}: {why})"
