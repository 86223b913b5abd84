"""train.precision on GPUs this machine may not have: the device's properties are mocked.

A T4 (compute capability 7.5) has no bfloat16 units — ``torch.cuda.is_bf16_supported()`` still says True
there, counting emulation — so "auto" gives it float16 with a GradScaler; an A100 (8.0) and an H100 (9.0)
compute in bfloat16.
"""

from types import SimpleNamespace

import pytest
import torch

from edu_contrast.train import precision

CUDA = torch.device("cuda")
GPUS = {  # name: (major, minor) compute capability
    "Tesla T4": (7, 5),
    "Tesla V100-SXM2-16GB": (7, 0),
    "NVIDIA A100-SXM4-40GB": (8, 0),
    "NVIDIA H100 80GB HBM3": (9, 0),
}


@pytest.fixture
def gpu(monkeypatch):
    """Make torch report one CUDA GPU with the given name's properties; bfloat16 'supported' on every one,
    as ``is_bf16_supported()`` says by default on a T4."""

    def use(name):
        major, minor = GPUS[name]
        props = SimpleNamespace(name=name, major=major, minor=minor, total_memory=16 * 2**30)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)

    return use


@pytest.mark.parametrize(
    ("name", "dtype"),
    [
        ("Tesla T4", torch.float16),
        ("Tesla V100-SXM2-16GB", torch.float16),
        ("NVIDIA A100-SXM4-40GB", torch.bfloat16),
        ("NVIDIA H100 80GB HBM3", torch.bfloat16),
    ],
)
def test_auto_picks_bfloat16_only_from_compute_capability_8(gpu, name, dtype):
    gpu(name)
    assert precision.cuda_has_fast_bfloat16(CUDA) == (dtype == torch.bfloat16)
    assert precision.autocast_dtype("auto", CUDA) == dtype


def test_a_t4_trains_in_float16_with_loss_scaling_and_says_why(gpu):
    gpu("Tesla T4")
    dtype = precision.autocast_dtype("auto", CUDA)
    assert torch.amp.GradScaler("cuda", enabled=dtype == torch.float16).is_enabled()
    assert precision.describe(dtype, CUDA) == (
        "float16 autocast on cuda with loss scaling (Tesla T4, compute capability 7.5: no bfloat16 hardware)"
    )


def test_an_h100_trains_in_bfloat16_and_says_why(gpu):
    gpu("NVIDIA H100 80GB HBM3")
    dtype = precision.autocast_dtype("auto", CUDA)
    assert precision.describe(dtype, CUDA) == (
        "bfloat16 autocast on cuda (NVIDIA H100 80GB HBM3, compute capability 9.0: bfloat16 in hardware)"
    )


def test_explicit_choices_override_the_capability(gpu):
    gpu("Tesla T4")
    assert precision.autocast_dtype("bf16", CUDA) == torch.bfloat16
    assert "emulated, slower than float16" in precision.describe(torch.bfloat16, CUDA)
    assert precision.autocast_dtype("off", CUDA) is None
    gpu("NVIDIA A100-SXM4-40GB")
    assert precision.autocast_dtype("fp16", CUDA) == torch.float16
    assert precision.describe(torch.float16, CUDA).endswith("compute capability 8.0: bfloat16 in hardware)")
