"""Export the encoder f to ONNX and check the exported graph against PyTorch.

    h = f(x),   x ∈ [0, 1]^{B×C×H×W} (float32),   h ∈ ℝ^{B×d}

The ONNX graph has one input ``images`` (B, C, H, W) and one output ``features`` (B, d), with a dynamic
batch axis B. It is written by PyTorch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``),
which needs only the ``onnx`` package (the dynamo exporter would also need ``onnxscript``).
"""

from __future__ import annotations

import copy
import inspect
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edu_contrast._validation import fail

__all__ = ["encoder_of", "export_onnx", "max_abs_difference", "as_float_images", "require", "OPSET"]

OPSET = 17
INPUT, OUTPUT = "images", "features"
INSTALL = "pip install 'edu_contrast[serve]'"


# torch >= 2.5 has both exporters (and later ones default to dynamo): ask for the TorchScript one.
_TORCHSCRIPT = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def require(module: str):
    """Import an optional dependency of the serving stack, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"Serving needs the package '{module}', which is not installed: {INSTALL}"
        ) from error


def encoder_of(method_or_encoder: nn.Module) -> nn.Module:
    """f: ``method.encoder`` of a method (``methods.ContrastiveMethod``), or the module itself."""
    if not isinstance(method_or_encoder, nn.Module):
        got = f"an object of type {type(method_or_encoder).__name__}"
        fail("method_or_encoder", "encoder_of", "an nn.Module (a method or an encoder)", got, TypeError)
    encoder = getattr(method_or_encoder, "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else method_or_encoder


def as_float_images(images, where: str = "as_float_images") -> np.ndarray:
    """uint8 (B, C, H, W) in 0..255 → float32 in [0, 1]; float images are kept (as float32)."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim != 4:
        fail("images", where, "a batch of shape (B, C, H, W)", f"shape {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)  # (B, C, H, W) in [0, 1]
    if not np.issubdtype(array.dtype, np.floating):
        fail("images", where, "uint8 (0..255) or float ([0, 1]) images", f"dtype {array.dtype}", TypeError)
    return np.ascontiguousarray(array, dtype=np.float32)


def export_onnx(
    method_or_encoder: nn.Module,
    path: str | os.PathLike,
    *,
    image_shape: tuple[int, int, int],
    opset: int = OPSET,
) -> Path:
    """Write f (eval mode, on the CPU) to ``path`` as ONNX: ``images`` (B, C, H, W) → ``features`` (B, d).

    ``image_shape`` is (C, H, W); B is a dynamic axis. The module is copied, so its device and
    train/eval mode are left as they were. Returns the path.
    """
    if len(tuple(image_shape)) != 3:
        fail("image_shape", "export_onnx", "(C, H, W)", tuple(image_shape))
    require("onnx")
    encoder = copy.deepcopy(encoder_of(method_or_encoder)).cpu().float().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, *image_shape)  # (B, C, H, W); B = 2 so nothing specialises on B = 1
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            encoder,
            (example,),
            str(path),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            **_TORCHSCRIPT,
        )
    return path


def onnx_session(path: str | os.PathLike, *, threads: int | None = None):
    """An onnxruntime CPU ``InferenceSession`` (``threads``: intra-op threads; None: default)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def max_abs_difference(onnx_path: str | os.PathLike, encoder: nn.Module, images) -> float:
    """max |h_onnx − h_torch| over ``images`` (uint8 or [0, 1] float, (B, C, H, W)): how exact the export is.

    ``encoder`` is the module that was exported (a method or its encoder f).
    """
    x = as_float_images(images, "max_abs_difference")  # (B, C, H, W)
    (h_onnx,) = onnx_session(onnx_path).run([OUTPUT], {INPUT: x})  # (B, d)
    module = copy.deepcopy(encoder_of(encoder)).cpu().float().eval()
    h_torch = module(torch.from_numpy(x)).numpy()  # (B, d)
    return float(np.abs(h_onnx - h_torch).max())
