"""A gallery: the features h = f(x) of a dataset's images, saved with the identity of the model f.

    gallery.npz = { ids         int64 (n,)      row of each image in its dataset split
                    embeddings  float32 (n, d)  h_i = f(x_i), the features the probes and /embed use
                    labels      int64 (n,)      the images' classes (for notebooks; the server ignores them)
                    identity    JSON text       encoder_sha256, method, epoch, dim, image_shape, dataset,
                                                split, format }

``encoder_sha256`` is ``train.storage.checksum`` of the encoder's state dict (every weight and BatchNorm
statistic, with its name, dtype and shape). The server recomputes it from ``--checkpoint`` and refuses a
gallery embedded by another model: cosine similarities between features of two different encoders mean
nothing, and they would still come back as confident-looking scores. The file holds no pickles
(``np.load(..., allow_pickle=False)``) and is written atomically.

    python -m edu_contrast gallery --checkpoint runs/fm --out runs/fm/gallery.npz    # the test split
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from torch import nn

from edu_contrast.serve.export import encoder_of
from edu_contrast.train.storage import _atomic_write, checksum  # the checkpoints' atomic write

__all__ = ["GALLERY_FORMAT", "Gallery", "GalleryError", "model_identity", "save_gallery", "load_gallery"]

GALLERY_FORMAT = 1
ARRAYS = ("ids", "embeddings", "labels")
MATCHING = ("encoder_sha256", "dim")  # what must agree between a gallery and the served model


class GalleryError(ValueError):
    """A gallery file that cannot be used: unreadable, not a gallery, or embedded by another model."""


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Gallery images' features: ``embeddings`` (n, d) float32, their ``ids`` and ``labels`` (n,) int64,
    and ``identity`` (a dict: the model that embedded them and where the images came from)."""

    ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray
    identity: dict

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def check_model(self, identity: dict, dim: int, *, source: str = "the model", redo: str = "") -> None:
        """Raise ``GalleryError`` (one line: what differs and ``redo``, how to re-embed) unless the model
        of ``identity`` (``model_identity``), with features of size ``dim``, embedded this gallery."""
        redo = redo or (
            f"re-embed it: python -m edu_contrast gallery --checkpoint RUN --dataset "
            f"{self.identity.get('dataset', 'NAME')} --out FILE --overwrite, with RUN the run you serve"
        )
        if self.dim != dim:
            raise GalleryError(
                f"the gallery's embeddings have dimension {self.dim}, but {source}'s features h have "
                f"dimension {dim}; {redo}."
            )
        mine, theirs = self.identity.get("encoder_sha256"), identity.get("encoder_sha256")
        if mine != theirs:
            raise GalleryError(
                f"the gallery was embedded by another encoder (sha256 {str(mine)[:12]}…, "
                f"{_describe(self.identity)}) than {source} (sha256 {str(theirs)[:12]}…, "
                f"{_describe(identity)}); {redo}."
            )


def _describe(identity: dict) -> str:
    spec = identity.get("method")
    name = spec.get("name") if isinstance(spec, dict) else spec
    epoch = identity.get("epoch")
    return f"{name}" + (f" at epoch {epoch}" if epoch is not None else "")


def model_identity(method: nn.Module, *, epoch: int | None = None) -> dict:
    """``{"encoder_sha256", "method", "epoch"}`` of a method (or encoder): what makes its features h its own.

    ``method`` is the recipe ``methods.build_method`` recorded (``method.spec``), None for other modules.
    """
    encoder = encoder_of(method)
    return {
        "encoder_sha256": checksum(encoder.state_dict()),
        "method": getattr(method, "spec", None),
        "epoch": epoch,
    }


def save_gallery(path: str | os.PathLike, gallery: Gallery, *, overwrite: bool = False) -> Path:
    """Write ``gallery`` to ``path`` (.npz) atomically; an existing file is replaced only if ``overwrite``.

    Raises ``FileExistsError`` (naming the file and ``overwrite=True``) when it exists and ``overwrite``
    is False: a gallery takes minutes to embed and is what a running server was started with.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} already exists; choose another file, or pass overwrite=True to replace it."
        )
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'gallery.npz'}.")
    identity = {**gallery.identity, "format": GALLERY_FORMAT, "dim": gallery.dim}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.asarray(gallery.ids, dtype=np.int64),
        embeddings=np.asarray(gallery.embeddings, dtype=np.float32),
        labels=np.asarray(gallery.labels, dtype=np.int64),
        identity=np.array(json.dumps(identity, sort_keys=True)),  # a 0-d unicode array, no pickle
    )
    _atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return path


def _read_npz(path: Path, remake: str) -> tuple[dict, dict]:
    """The arrays of the .npz at ``path`` that a gallery has, and its identity (``{}`` if it has none)."""
    try:
        loaded = np.load(path, allow_pickle=False)  # an NpzFile, or an array for a .npy file
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            return {}, {}
        with loaded as npz:
            arrays = {key: npz[key] for key in (*ARRAYS, "identity") if key in npz.files}
        identity = json.loads(str(arrays.pop("identity", "{}")))
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise GalleryError(f"{path} cannot be read as a gallery ({reason}); {remake}.") from None
    return arrays, identity if isinstance(identity, dict) else {}


def load_gallery(path: str | os.PathLike) -> Gallery:
    """Read a file written by ``save_gallery``; ``FileNotFoundError`` or ``GalleryError`` (what is wrong
    with it and how to get a good one) otherwise."""
    path = Path(path)
    remake = "write one with python -m edu_contrast gallery --checkpoint RUN --out FILE"
    if not path.is_file():
        raise FileNotFoundError(f"No gallery file at {path}; {remake}.")
    arrays, identity = _read_npz(path, remake)
    missing = [key for key in ARRAYS if key not in arrays] + ([] if identity else ["identity"])
    if missing:
        raise GalleryError(f"{path} is not a gallery (it lacks {', '.join(missing)}); {remake}.")
    ids, embeddings, labels = arrays["ids"], arrays["embeddings"], arrays["labels"]
    n = ids.shape[0] if ids.ndim == 1 else -1
    if embeddings.ndim != 2 or n < 1 or embeddings.shape[0] != n or labels.shape != (n,):
        raise GalleryError(
            f"{path} is damaged: ids {ids.shape}, embeddings {embeddings.shape}, labels {labels.shape} do "
            f"not describe one gallery of n ≥ 1 items; {remake}."
        )
    if identity.get("format") != GALLERY_FORMAT:
        raise GalleryError(
            f"{path} has gallery format {identity.get('format')!r}, not {GALLERY_FORMAT}; {remake}."
        )
    return Gallery(ids.astype(np.int64), embeddings.astype(np.float32), labels.astype(np.int64), identity)
