"""Serving embeddings: export the encoder f to ONNX, quantize it to int8, and answer HTTP requests.

Read in this order:

- ``export.py``: ``export_onnx`` (f → ONNX, dynamic batch) and ``max_abs_difference`` (ONNX vs PyTorch);
- ``quantize.py``: ``quantize_int8`` (static int8, calibrated on training images) and its
  ``ImageCalibrationReader``;
- ``backends.py``: ``Embedder`` with the ``torch``, ``onnx`` and ``onnx-int8`` backends,
  ``load_embedder(checkpoint_dir, backend)``;
- ``gallery.py``: ``Gallery`` (a dataset's features h with the identity of the encoder that made them),
  ``save_gallery``, ``load_gallery``, ``model_identity``;
- ``search.py``: ``Searcher`` (a ``retrieval`` index over a gallery) and ``load_searcher``, which refuses a
  gallery of another model;
- ``app.py``: the FastAPI app (``POST /embed``, ``POST /similarity``, ``POST /search``, ``GET /health``)
  and ``main``, which serves it with uvicorn:
  ``python -m edu_contrast.serve --checkpoint runs/X --backend onnx-int8 [--gallery FILE]``.

The optional dependencies (onnx, onnxruntime, fastapi, uvicorn, python-multipart, pillow) are imported
only when used: ``pip install 'edu_contrast[serve]'``.
"""

from edu_contrast.serve.backends import (
    BACKENDS,
    Embedder,
    OnnxEmbedder,
    TorchEmbedder,
    build_embedders,
    load_embedder,
    load_method,
)
from edu_contrast.serve.export import encoder_of, export_onnx, max_abs_difference
from edu_contrast.serve.gallery import Gallery, GalleryError, load_gallery, model_identity, save_gallery
from edu_contrast.serve.quantize import ImageCalibrationReader, calibration_batch, quantize_int8
from edu_contrast.serve.search import Searcher, load_searcher

__all__ = [
    "BACKENDS",
    "Embedder",
    "TorchEmbedder",
    "OnnxEmbedder",
    "build_embedders",
    "load_embedder",
    "load_method",
    "encoder_of",
    "export_onnx",
    "max_abs_difference",
    "ImageCalibrationReader",
    "calibration_batch",
    "quantize_int8",
    "Gallery",
    "GalleryError",
    "save_gallery",
    "load_gallery",
    "model_identity",
    "Searcher",
    "load_searcher",
]
