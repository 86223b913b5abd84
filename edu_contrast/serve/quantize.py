"""Static int8 quantization of the exported encoder, calibrated on training images.

Each float tensor t of the graph is replaced by its 8-bit version (QDQ format: QuantizeLinear /
DequantizeLinear pairs around the operators, which onnxruntime fuses into integer kernels):

    q = clip(round(t / s) + z, 0, 255),      t ≈ s · (q − z)

Weights are quantized per output channel (signed, z = 0); an activation gets one scale s and zero point
z, chosen from the range it takes on the calibration images (min–max calibration). "Static" means these
ranges are measured once, before serving, instead of on every request.
See https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edu_contrast._validation import check_int, fail
from edu_contrast.serve.export import INPUT, as_float_images, require

__all__ = ["ImageCalibrationReader", "quantize_int8"]


class ImageCalibrationReader:
    """The calibration images, batch by batch, as onnxruntime's ``CalibrationDataReader`` wants them.

    ``get_next()`` returns ``{"images": x}`` with x float32 ``(b, C, H, W)`` in [0, 1] (the uint8 images
    divided by 255, exactly what the server feeds the model), and None when the images are used up;
    ``rewind()`` starts again.
    """

    def __init__(self, images, *, batch_size: int = 64, input_name: str = INPUT):
        self.images = as_float_images(images, "ImageCalibrationReader")  # (N, C, H, W) float32
        if self.images.shape[0] < 1:
            fail("images", "ImageCalibrationReader", "at least one image", "none")
        self.batch_size = check_int(batch_size, "batch_size", "ImageCalibrationReader")
        self.input_name = input_name
        self._start = 0

    def get_next(self) -> dict | None:
        if self._start >= self.images.shape[0]:
            return None
        batch = self.images[self._start : self._start + self.batch_size]  # (b, C, H, W)
        self._start += self.batch_size
        return {self.input_name: batch}

    def rewind(self) -> None:
        self._start = 0

    def __len__(self) -> int:
        return -(-self.images.shape[0] // self.batch_size)


def quantize_int8(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_images,
    *,
    batch_size: int = 64,
    per_channel: bool = True,
) -> Path:
    """Write the int8 version of the float model ``onnx_path`` to ``out_path`` and return that path.

    ``calibration_images``: uint8 (N, C, H, W) training images (a few hundred are enough) or an
    ``ImageCalibrationReader``. Weights int8 (per channel when ``per_channel``), activations uint8, QDQ.
    """
    quantization = require("onnxruntime.quantization")
    reader = (
        calibration_images
        if isinstance(calibration_images, ImageCalibrationReader)
        else ImageCalibrationReader(calibration_images, batch_size=batch_size)
    )
    reader.rewind()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prepared = out_path.with_name(out_path.stem + ".prep.onnx")
    try:  # shape inference and graph optimisation first, as onnxruntime recommends
        quantization.shape_inference.quant_pre_process(
            str(onnx_path), str(prepared), skip_symbolic_shape=True
        )
        source = prepared
    except Exception:  # an older onnxruntime, or a graph it cannot pre-process: quantize as exported
        source = Path(onnx_path)
    quantization.quantize_static(
        str(source),
        str(out_path),
        reader,
        quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
        per_channel=per_channel,
        calibrate_method=quantization.CalibrationMethod.MinMax,
    )
    prepared.unlink(missing_ok=True)
    return out_path


def calibration_batch(images, n: int = 512, seed: int = 0):
    """A fixed random subset of at most ``n`` of ``images`` (N, C, H, W), for calibration."""
    rng = np.random.default_rng(seed)
    count = images.shape[0]
    index = np.sort(rng.choice(count, size=min(n, count), replace=False))
    return images[index]
