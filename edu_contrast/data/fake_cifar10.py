"""``make_fake_cifar10``: a small CIFAR-10 stand-in in the genuine file layout, for offline use.

CIFAR-10 cannot be downloaded on the build machines, and the CPU notebooks should not need 170 MB.
The fake's files are the release's — Python-2 pickles that torchvision's CIFAR10 loader reads — with
class-dependent coloured shapes as images, so the real loading code in ``datasets.py`` runs on them.
Writing a Python-2 ``str`` from Python 3 takes a small pickler extension (``_Py2Pickler``).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from edu_contrast._validation import check_int
from edu_contrast.data._files import CIFAR10_FOLDER, FAKE_CIFAR10_MANIFEST, _cifar10_files, _md5
from edu_contrast.data.datasets import CIFAR10_CLASSES

__all__ = ["make_fake_cifar10"]


class _Py2Str(bytes):
    """Bytes pickled as a Python 2 ``str``, as in the CIFAR-10 release: ``pickle.load(encoding="bytes")``
    reads them as bytes (b"data"), ``encoding="latin1"`` (torchvision) as str ("data")."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        size = len(obj)
        if size < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([size]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", size) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2_str


def _write_py2_pickle(obj, path: Path) -> None:
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _py2_dict(entries: dict) -> dict:
    return {_Py2Str(key.encode()): value for key, value in entries.items()}


def _fake_cifar10_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One coloured shape per image on a noisy background: class c has its own shape and hue ≈ c/10.

    Returns uint8 ``(n, 3, 32, 32)``. Position, size, hue and background vary per image, so a model has
    to learn shape (or colour) to classify: a linear probe on good features separates the classes.
    """
    n = len(labels)
    centre = rng.uniform(12, 20, size=(n, 2)).astype(np.float32)
    radius = rng.uniform(7, 11, size=n).astype(np.float32)
    grid = np.arange(32, dtype=np.float32) + 0.5
    dy = (grid[None, :, None] - centre[:, 0, None, None]) / radius[:, None, None]  # (n, 32, 1)
    dx = (grid[None, None, :] - centre[:, 1, None, None]) / radius[:, None, None]  # (n, 1, 32)
    dy, dx = np.broadcast_arrays(dy, dx)  # (n, 32, 32) each
    shapes = [
        lambda x, y: x**2 + y**2 <= 1,  # disc
        lambda x, y: np.maximum(abs(x), abs(y)) <= 0.8,  # square
        lambda x, y: abs(x) + abs(y) <= 1,  # diamond
        lambda x, y: (x**2 + y**2 <= 1) & (x**2 + y**2 >= 0.35),  # ring
        lambda x, y: (np.minimum(abs(x), abs(y)) <= 0.3) & (np.maximum(abs(x), abs(y)) <= 1),  # plus
        lambda x, y: (abs(y) <= 0.35) & (abs(x) <= 1),  # horizontal bar
        lambda x, y: (abs(x) <= 0.35) & (abs(y) <= 1),  # vertical bar
        lambda x, y: (y <= 0.8) & (y >= 2 * abs(x) - 1),  # triangle
        lambda x, y: (
            (np.maximum(abs(x), abs(y)) <= 1) & ((np.floor(2 * x) + np.floor(2 * y)) % 2 == 0)
        ),  # checker
        lambda x, y: (abs(abs(x) - abs(y)) <= 0.3) & (np.maximum(abs(x), abs(y)) <= 1),  # X
    ]
    mask = np.zeros((n, 32, 32), dtype=bool)
    for c, shape in enumerate(shapes):
        rows = labels == c
        mask[rows] = shape(dx[rows], dy[rows])
    hue = (labels / 10 + rng.uniform(-0.03, 0.03, size=n)) % 1
    k = (np.array([5.0, 3.0, 1.0])[None, :] + 6 * hue[:, None]) % 6  # HSV → RGB at S = 0.8, V = 0.95
    foreground = (0.95 - 0.95 * 0.8 * np.clip(np.minimum(k, 4 - k), 0, 1)).astype(np.float32)  # (n, 3)
    background = rng.uniform(0.05, 0.45, size=(n, 3)).astype(np.float32)  # (n, 3) dull colours
    image = np.where(
        mask[:, None], foreground[:, :, None, None], background[:, :, None, None]
    )  # (n, 3, 32, 32)
    image += rng.standard_normal(size=image.shape, dtype=np.float32) * 0.04
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def make_fake_cifar10(
    root: str | os.PathLike, n_train: int = 1000, n_test: int = 200, *, seed: int = 0
) -> Path:
    """Write a small fake CIFAR-10 under ``root/cifar-10-batches-py`` and return ``root``.

    The files have the genuine layout — ``data_batch_1`` … ``data_batch_5``, ``test_batch`` and
    ``batches.meta``, Python-2 pickles of dicts with b"data" (uint8 rows of 3072 = 3·32·32 bytes,
    red plane first), b"labels", b"label_names" — so torchvision's CIFAR10 loader reads them; only the
    md5 sums differ from the release, and ``load_dataset("cifar10", root=root)`` checks the fake's own
    (stored in ``edu_contrast_fake.json``). Images: class-dependent coloured shapes, see
    ``_fake_cifar10_images``. For tests, and for running the CIFAR notebook on a CPU without a download.
    """
    n_train = check_int(n_train, "n_train", "make_fake_cifar10", minimum=10)
    n_test = check_int(n_test, "n_test", "make_fake_cifar10", minimum=10)
    check_int(seed, "seed", "make_fake_cifar10", minimum=0)
    root = Path(root)
    folder = root / CIFAR10_FOLDER
    if (folder / "data_batch_1").is_file() and not (folder / FAKE_CIFAR10_MANIFEST).is_file():
        raise FileExistsError(f"{folder} holds a real CIFAR-10; choose another 'root' for the fake one")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    batches = {}
    train_labels = rng.permutation(np.arange(n_train) % 10)
    for i, rows in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        batches[f"data_batch_{i}"] = (train_labels[rows], f"training batch {i} of 5")
    batches["test_batch"] = (rng.permutation(np.arange(n_test) % 10), "testing batch 1 of 1")
    for name, (labels, batch_label) in batches.items():
        images = _fake_cifar10_images(labels, rng)  # (n, 3, 32, 32)
        entry = {
            "batch_label": _Py2Str(batch_label.encode()),
            "labels": [int(y) for y in labels],
            "data": images.reshape(len(images), 3 * 32 * 32),  # (n, 3, 32, 32) → (n, 3072)
            "filenames": [_Py2Str(f"fake_{name}_{j}.png".encode()) for j in range(len(images))],
        }
        _write_py2_pickle(_py2_dict(entry), folder / name)
    meta = {
        "num_cases_per_batch": int(np.ceil(n_train / 5)),
        "label_names": [_Py2Str(c.encode()) for c in CIFAR10_CLASSES],
        "num_vis": 3 * 32 * 32,
    }
    _write_py2_pickle(_py2_dict(meta), folder / "batches.meta")
    md5s = {name: _md5(folder / name) for name in _cifar10_files()}
    manifest = {"fake": True, "seed": seed, "n_train": n_train, "n_test": n_test, "md5": md5s}
    (folder / FAKE_CIFAR10_MANIFEST).write_text(json.dumps(manifest, indent=1))
    return root
