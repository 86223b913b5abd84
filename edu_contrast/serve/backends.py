"""One interface, three backends: ``Embedder.embed(images_uint8) -> (B, d) float32`` features h = f(x).

- ``torch``: the encoder f itself (eval mode, no gradients);
- ``onnx``: f exported to ONNX (``export.export_onnx``), run by onnxruntime in float32;
- ``onnx-int8``: that graph statically quantized to int8 (``quantize.quantize_int8``), calibrated on
  training images.

Every backend takes the same uint8 images (B, C, H, W) and divides them by 255 itself, so the server
and the lessons feed all three the same thing. ``load_embedder(checkpoint_dir, backend)`` builds one
from a run folder written by ``train.fit``: the method is rebuilt from the recipe
``methods.build_method`` recorded in the checkpoint, and the ONNX files are written next to it
(``encoder.onnx``, ``encoder.int8.onnx``) and reused while the checkpoint is unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edu_contrast import data, methods, train
from edu_contrast._validation import check_choice, fail
from edu_contrast.serve.export import INPUT, OUTPUT, as_float_images, encoder_of, export_onnx, onnx_session
from edu_contrast.serve.quantize import calibration_batch, quantize_int8

__all__ = [
    "BACKENDS",
    "Embedder",
    "TorchEmbedder",
    "OnnxEmbedder",
    "build_embedders",
    "load_embedder",
    "load_method",
    "method_from_state",
]

BACKENDS = ("torch", "onnx", "onnx-int8")
FILES = {"onnx": "encoder.onnx", "onnx-int8": "encoder.int8.onnx"}
STAMP = "serve.json"  # which checkpoint the ONNX files were made from


class Embedder:
    """h = f(x) for uint8 images: ``embed(images)`` with images (B, C, H, W) → float32 array (B, d).

    Attributes: ``backend`` (one of ``BACKENDS``), ``image_shape`` (C, H, W) the model expects,
    ``dim`` d.
    """

    backend: str = ""

    def __init__(self, image_shape, dim: int):
        self.image_shape, self.dim = tuple(int(s) for s in image_shape), int(dim)

    def embed(self, images) -> np.ndarray:
        x = as_float_images(images, f"{type(self).__name__}.embed")  # (B, C, H, W) float32 in [0, 1]
        if tuple(x.shape[1:]) != self.image_shape:
            fail(
                "images",
                f"{type(self).__name__}.embed",
                f"shape (B, {', '.join(map(str, self.image_shape))})",
                f"shape {x.shape}",
            )
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(backend={self.backend!r}, image_shape={self.image_shape}, dim={self.dim})"
        )


class TorchEmbedder(Embedder):
    """The PyTorch encoder f on the CPU, eval mode (a copy: the module passed in is left as it was)."""

    backend = "torch"

    def __init__(self, method_or_encoder: nn.Module, image_shape):
        self.encoder = copy.deepcopy(encoder_of(method_or_encoder)).cpu().float().eval()
        with torch.inference_mode():
            dim = self.encoder(torch.zeros(1, *image_shape)).shape[1]
        super().__init__(image_shape, dim)

    def _run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.encoder(torch.from_numpy(x)).float().numpy()  # (B, d)


class OnnxEmbedder(Embedder):
    """An ONNX file run by onnxruntime on the CPU (float32 or int8: the file decides)."""

    def __init__(self, path: str | os.PathLike, *, backend: str = "onnx", threads: int | None = None):
        self.path = Path(path)
        self.backend = backend
        self.session = onnx_session(self.path, threads=threads)
        shape = self.session.get_inputs()[0].shape  # ["batch", C, H, W]
        dim = self.session.get_outputs()[0].shape[1]
        super().__init__(shape[1:], dim)

    def _run(self, x: np.ndarray) -> np.ndarray:
        (h,) = self.session.run([OUTPUT], {INPUT: x})  # (B, d)
        return np.asarray(h, dtype=np.float32)


def build_embedders(
    method_or_encoder: nn.Module,
    *,
    image_shape,
    calibration_images=None,
    folder: str | os.PathLike,
    backends=BACKENDS,
    threads: int | None = None,
) -> dict[str, Embedder]:
    """``{backend: Embedder}`` for a module in memory; the ONNX files go to ``folder``.

    ``calibration_images`` (uint8 (N, C, H, W) training images) are needed for ``onnx-int8``.
    """
    for backend in backends:
        check_choice(backend, "backends", "build_embedders", BACKENDS)
    folder = Path(folder)
    out: dict[str, Embedder] = {}
    if "torch" in backends:
        out["torch"] = TorchEmbedder(method_or_encoder, image_shape)
    if "onnx" in backends or "onnx-int8" in backends:
        fp32 = export_onnx(method_or_encoder, folder / FILES["onnx"], image_shape=image_shape)
        if "onnx" in backends:
            out["onnx"] = OnnxEmbedder(fp32, backend="onnx", threads=threads)
        if "onnx-int8" in backends:
            if calibration_images is None:
                fail("calibration_images", "build_embedders", "training images for onnx-int8", None)
            int8 = quantize_int8(fp32, folder / FILES["onnx-int8"], calibration_images)
            out["onnx-int8"] = OnnxEmbedder(int8, backend="onnx-int8", threads=threads)
    return out


def load_method(checkpoint: str | os.PathLike) -> tuple[nn.Module, dict]:
    """(method with the checkpoint's weights, the checkpoint's config), rebuilt like ``train.evaluate``."""
    state = train.load_checkpoint(checkpoint)
    return method_from_state(state), state["config"]


def method_from_state(state: dict) -> nn.Module:
    """The method of a loaded checkpoint (``train.load_checkpoint``), rebuilt and in eval mode."""
    config = state["config"]
    spec = config.get("method")
    if not isinstance(spec, dict):
        raise ValueError(
            f"The checkpoint's method ({spec!r}) was not built by methods.build_method, so it cannot be "
            f"rebuilt for serving; train it with methods.build_method(...) or the command line."
        )
    spec = dict(spec)
    method = methods.build_method(spec.pop("name"), **spec)
    method.load_state_dict(state["model"])
    return method.eval()


def _default_calibration(config: dict, n: int = 512):
    """``n`` training images of the checkpoint's dataset (never downloaded here)."""
    dataset = config.get("dataset")
    if dataset is None:
        raise ValueError(
            "The checkpoint does not name its dataset, so there are no training images to calibrate int8 "
            "on; pass calibration_images= (uint8 (N, C, H, W)) to load_embedder."
        )
    images = data.load_dataset(dataset, "train", root=config.get("data_root"), download=False).images
    return calibration_batch(images, n, seed=int(config.get("seed", 0)))


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_embedder(
    checkpoint: str | os.PathLike,
    backend: str = "torch",
    *,
    calibration_images=None,
    threads: int | None = None,
) -> Embedder:
    """The ``backend`` Embedder of the run folder (or ``checkpoint.pt``) ``checkpoint``.

    For ``onnx``/``onnx-int8`` the ONNX files are written beside the checkpoint the first time and reused
    while ``serve.json`` says they were made from the same checkpoint bytes. int8 calibrates on 512
    training images of the checkpoint's dataset unless ``calibration_images`` are given.
    """
    check_choice(backend, "backend", "load_embedder", BACKENDS)
    path = Path(checkpoint)
    file = path / train.CHECKPOINT_NAME if path.is_dir() else path
    method, config = load_method(file)
    image_shape = tuple(config["image_shape"])
    if backend == "torch":
        return TorchEmbedder(method, image_shape)
    folder, digest = file.parent, _file_digest(file)
    stamp = folder / STAMP
    made = json.loads(stamp.read_text()) if stamp.is_file() else {}
    target = folder / FILES[backend]
    if made.get(backend) != digest or not target.is_file():
        if backend == "onnx-int8" and calibration_images is None:
            calibration_images = _default_calibration(config)
        build_embedders(
            method,
            image_shape=image_shape,
            calibration_images=calibration_images,
            folder=folder,
            backends=(backend,),
        )
        made[backend] = digest
        stamp.write_text(json.dumps(made, indent=1))
    return OnnxEmbedder(target, backend=backend, threads=threads)
