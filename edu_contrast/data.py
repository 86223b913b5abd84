"""Datasets as in-memory uint8 tensors, the two-view wrapper, and the feature-suppression datasets.

Every dataset is an ``ImageTensors``: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)`` and
``classes``; indexing gives ``(x, y)`` with x a float ``(C, H, W)`` image in [0, 1]. Small enough to
hold in memory (CIFAR-10 is 150 MB), so a whole dataset can also go to the GPU at once and be
augmented there with ``augment.batched``.

``load_dataset(name, split)`` knows three datasets:

- ``"digits"``: scikit-learn's 8×8 handwritten digits (1797 images, shipped with scikit-learn),
  a fixed stratified split of 1437 train / 360 test images. Never downloads.
- ``"fashion-mnist"``: 28×28 clothing, 60 000 / 10 000 (Xiao et al. 2017), read from the IDX files of
  ``root``; else of ``$EDU_CONTRAST_DATA``, the Debian package ``dataset-fashion-mnist``
  (/usr/share/datasets/fashion-mnist) and the download cache ``data_dir()``; else downloaded by torchvision.
- ``"cifar10"``: 32×32 natural images, 50 000 / 10 000 (Krizhevsky 2009), torchvision's loader and
  download. ``make_fake_cifar10(root)`` writes a small stand-in in the genuine file layout for offline use.

The feature-suppression datasets of Chen et al. 2020 ("Intriguing Properties of Contrastive Losses",
Sec. 4.1) are ``ImageTensors`` too: ``RandBit``, ``MultiDigits`` and ``DigitOnImage``.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import math
import os
import pickle
import struct
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from edu_contrast._validation import check_choice, check_int, check_labels

__all__ = [
    "ImageTensors",
    "TwoViews",
    "load_dataset",
    "make_fake_cifar10",
    "data_dir",
    "read_idx",
    "RandBit",
    "MultiDigits",
    "DigitOnImage",
    "DATASETS",
]

DATASETS = ("digits", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_FOLDER = "cifar-10-batches-py"
FAKE_CIFAR10_MANIFEST = "edu_contrast_fake.json"  # md5 sums of a fake written by make_fake_cifar10


def data_dir() -> Path:
    """The download cache: ``$EDU_CONTRAST_DATA``, else ``<repo>/data`` in a checkout, else
    ``~/.cache/edu_contrast``."""
    if os.environ.get("EDU_CONTRAST_DATA"):
        return Path(os.environ["EDU_CONTRAST_DATA"]).expanduser()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "edu_contrast"


# --------------------------------------------------------------------------------------------------
# The dataset type every loader returns


class ImageTensors(Dataset):
    """Images in memory: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)``, ``classes`` names.

    ``dataset[i]`` is ``(x, y)``: x = images[i] / 255 as float ``(C, H, W)``, y = labels[i] as int.
    ``protected_channels`` is the number of trailing channels augmentation must leave alone (RandBit's
    bits; 0 otherwise): pass it to ``augment.per_image``/``augment.batched``.
    """

    per_sample: tuple[str, ...] = ("images", "labels")  # tensors that subset() indexes
    protected_channels: int = 0

    def __init__(self, images: torch.Tensor, labels, classes: Sequence[str]):
        where = type(self).__name__
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            got = (
                f"dtype {images.dtype}"
                if isinstance(images, torch.Tensor)
                else f"type {type(images).__name__}"
            )
            raise TypeError(
                f"The 'images' parameter of {where} must be a uint8 torch.Tensor. Got {got} instead."
            )
        if images.dim() != 4 or min(images.shape) < 1:
            raise ValueError(
                f"The 'images' parameter of {where} must have shape (N, C, H, W) with every size >= 1. "
                f"Got shape {tuple(images.shape)} instead."
            )
        labels = check_labels(labels, images.shape[0], "labels", where).to(torch.int64)
        classes = [str(c) for c in classes]
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(
                f"The 'labels' parameter of {where} must lie in [0, {len(classes)}) (one per class name). "
                f"Got values in [{int(labels.min())}, {int(labels.max())}] instead."
            )
        self.images, self.labels, self.classes = images, labels, classes

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].float().div_(255), int(self.labels[index])

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def size(self) -> int:
        """Image height H (all images here are square)."""
        return self.images.shape[2]

    def subset(self, n: int, generator: torch.Generator | None = None) -> ImageTensors:
        """A random copy with ``n`` images and the class proportions of the whole (stratified).

        Each class gets ⌊n·N_c/N⌋ images, and the remaining ones go to the largest fractional parts.
        """
        n = check_int(n, "n", "subset")
        if n > len(self):
            raise ValueError(
                f"The 'n' parameter of subset must be <= the dataset size {len(self)}. Got {n} instead."
            )
        order = torch.randperm(len(self), generator=generator)
        counts = torch.bincount(self.labels, minlength=len(self.classes)).double()
        quota = counts * n / len(self)
        take = quota.floor().long()
        leftover = n - int(take.sum())
        take[torch.argsort(quota - take, descending=True, stable=True)[:leftover]] += 1
        shuffled = self.labels[order]
        keep = torch.cat([order[shuffled == c][: int(take[c])] for c in range(len(self.classes))])
        return self._select(keep.sort().values)

    def _select(self, index: torch.Tensor) -> ImageTensors:
        """A shallow copy holding the rows ``index`` of every per-sample tensor."""
        chosen = copy.copy(self)
        for name in self.per_sample:
            setattr(chosen, name, getattr(self, name)[index])
        return chosen

    def __repr__(self) -> str:
        return f"{type(self).__name__}(images={tuple(self.images.shape)}, classes={len(self.classes)})"


class TwoViews(Dataset):
    """Positive pairs: ``(a₁(x), a₂(x), y)`` = (x̃⁽¹⁾, x̃⁽²⁾, y), a₁, a₂ two independent draws of ``transform``.

    ``dataset`` yields ``(x, y)``; ``transform`` is a random augmentation such as ``augment.per_image``.
    """

    def __init__(self, dataset: Dataset, transform: Callable[[torch.Tensor], torch.Tensor]):
        if not callable(transform):
            raise TypeError(
                f"The 'transform' parameter of TwoViews must be callable (an augmentation). "
                f"Got an object of type {type(transform).__name__} instead."
            )
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = self.dataset[index]
        return self.transform(x), self.transform(x), y


# --------------------------------------------------------------------------------------------------
# load_dataset


def load_dataset(
    name: str, split: str = "train", *, root: str | os.PathLike | None = None, download: bool = True
):
    """The ``split`` ("train" or "test") of dataset ``name`` ("digits", "fashion-mnist", "cifar10").

    ``root`` is the folder to read (and download into); ``None`` searches the usual places (module
    docstring) and downloads into ``data_dir()``. ``download=False`` never touches the network: a
    missing dataset raises ``FileNotFoundError`` that says how to get it.
    """
    check_choice(name, "name", "load_dataset", DATASETS)
    check_choice(split, "split", "load_dataset", SPLITS)
    if name == "digits":
        return _load_digits(split)
    if name == "fashion-mnist":
        return _load_fashion_mnist(split, root, download)
    return _load_cifar10(split, root, download)


def _load_digits(split: str) -> ImageTensors:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[
        :, None
    ]  # (1797, 8, 8) 0..16 → (1797, 1, 8, 8)
    index = np.arange(len(images))
    train, test = train_test_split(index, test_size=360, stratify=bunch.target, random_state=0)
    chosen = np.sort(train if split == "train" else test)
    return ImageTensors(
        torch.from_numpy(images[chosen]), torch.from_numpy(bunch.target[chosen]), list("0123456789")
    )


# Fashion-MNIST: IDX files


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), optionally gzipped, as a uint8 array.

    Layout: magic bytes ``00 00 08 ndim`` (08 = unsigned byte), ``ndim`` big-endian uint32 sizes, then
    the data in C order. Truncated, mislabelled or resized files raise RuntimeError("corrupt file ...").
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise _corrupt(path, f"it cannot be decompressed ({type(err).__name__}: {err})") from err
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise _corrupt(
            path, f"its magic number is {raw[:4].hex()}, expected 0000080{ndim} (IDX, uint8, {ndim}-D)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _corrupt(path, "its header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != math.prod(shape):
        raise _corrupt(
            path,
            f"it holds {len(raw) - header} data bytes, but its header announces {shape} = {math.prod(shape)}",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _corrupt(path: Path, what: str) -> RuntimeError:
    if DEBIAN_FASHION_MNIST in path.parents:
        fix = "reinstall it with `sudo apt-get install --reinstall dataset-fashion-mnist`"
    else:
        fix = "delete it and re-run with download=True"
    return RuntimeError(f"corrupt file {path}: {what}; {fix}")


def _fashion_mnist_files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``folder``, its fashion-mnist/ or torchvision's layout."""
    for sub in (".", "fashion-mnist", "FashionMNIST/raw"):
        found = []
        for stem in FASHION_MNIST_FILES[split]:
            candidates = [folder / sub / (stem + ".gz"), folder / sub / stem]
            found.append(next((p for p in candidates if p.is_file()), None))
        if all(found):
            return found[0], found[1]
    return None


def _load_fashion_mnist(split: str, root, download: bool) -> ImageTensors:
    if root is not None:
        places = [Path(root)]
    else:
        env = [Path(os.environ["EDU_CONTRAST_DATA"])] if os.environ.get("EDU_CONTRAST_DATA") else []
        places = list(dict.fromkeys(env + [DEBIAN_FASHION_MNIST, data_dir()]))
    for place in places:
        files = _fashion_mnist_files(place, split)
        if files:
            return _read_fashion_mnist(*files)
    target = places[0] if root is not None else data_dir()
    expected = " and ".join(stem + ".gz" for stem in FASHION_MNIST_FILES[split])
    if not download:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {', '.join(map(str, places))} (expected {expected}); "
            "run `sudo apt-get install dataset-fashion-mnist`, set EDU_CONTRAST_DATA to a folder holding the "
            "files, or pass download=True"
        )
    import torchvision

    try:
        torchvision.datasets.FashionMNIST(str(target), train=split == "train", download=True)
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        raise RuntimeError(
            f"could not download Fashion-MNIST into {target} ({type(err).__name__}: {err}); check the "
            "internet connection, or install it offline with `sudo apt-get install dataset-fashion-mnist`"
        ) from err
    files = _fashion_mnist_files(target, split)
    if files is None:
        raise FileNotFoundError(
            f"Fashion-MNIST download finished but {expected} is not in {target}/FashionMNIST/raw"
        )
    return _read_fashion_mnist(*files)


def _read_fashion_mnist(images_path: Path, labels_path: Path) -> ImageTensors:
    images = read_idx(images_path, ndim=3)  # (N, 28, 28)
    labels = read_idx(labels_path, ndim=1)  # (N,)
    if images.shape[1:] != (28, 28):
        raise _corrupt(images_path, f"its images are {images.shape[1:]}, expected (28, 28)")
    if len(labels) != len(images):
        raise _corrupt(
            labels_path, f"it holds {len(labels)} labels for the {len(images)} images of {images_path.name}"
        )
    if len(labels) and labels.max() >= 10:
        raise _corrupt(labels_path, f"it holds label {labels.max()}, expected 0..9")
    images = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 28, 28) → (N, 1, 28, 28)
    return ImageTensors(images, torch.from_numpy(labels.astype(np.int64)), FASHION_MNIST_CLASSES)


# CIFAR-10: torchvision's pickles


def _cifar10_files() -> list[str]:
    """The release's files, as torchvision's CIFAR10 lists them."""
    return [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]


def _cifar10_release_md5s() -> dict[str, str]:
    import torchvision

    base = torchvision.datasets.CIFAR10
    return {name: md5 for name, md5 in base.train_list + base.test_list} | {
        base.meta["filename"]: base.meta["md5"]
    }


def _cifar10_with_md5s(md5s: dict[str, str]) -> type:
    """torchvision's CIFAR10 class, checking the given md5 sums instead of the release's."""
    import torchvision

    base = torchvision.datasets.CIFAR10
    return type(
        "CheckedCIFAR10",
        (base,),
        {
            "train_list": [[name, md5s[name]] for name, _ in base.train_list],
            "test_list": [[name, md5s[name]] for name, _ in base.test_list],
            "meta": {**base.meta, "md5": md5s[base.meta["filename"]]},
        },
    )


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _cifar_defect(path: Path) -> str:
    """Why a CIFAR-10 pickle whose checksum is wrong is unusable, as precisely as we can tell."""
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
    except Exception as err:  # any unpickling failure means the same thing here
        return f"it cannot be unpickled ({type(err).__name__}: {err})"
    if not isinstance(entry, dict):
        return f"it holds a {type(entry).__name__}, expected a dict"
    if path.name == "batches.meta":
        return (
            "its md5 checksum does not match" if "label_names" in entry else "it has no 'label_names' entry"
        )
    data, labels = entry.get("data"), entry.get("labels")
    if not isinstance(data, np.ndarray) or labels is None:
        return "it lacks the 'data' array or the 'labels' list"
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        return f"its data has shape {data.shape} and dtype {data.dtype}, expected (n, 3072) uint8 rows"
    if len(labels) != len(data):
        return f"it has {len(labels)} labels for {len(data)} images"
    return "its md5 checksum does not match (truncated or modified)"


def _check_cifar10_folder(folder: Path, md5s: dict[str, str], fix: str) -> None:
    """Raise an error that names the missing or corrupt file and how to fix it."""
    names = _cifar10_files()
    missing = [name for name in names if not (folder / name).is_file()]
    if len(missing) == len(names):
        raise FileNotFoundError(
            f"CIFAR-10 not found in {folder}; pass download=True to download it (170 MB from "
            "www.cs.toronto.edu), or build a small offline stand-in with "
            f"make_fake_cifar10('{folder.parent}')"
        )
    if missing:
        raise FileNotFoundError(f"CIFAR-10 in {folder} is incomplete: {', '.join(missing)} missing; {fix}")
    for name in names:
        if _md5(folder / name) != md5s[name]:
            raise RuntimeError(f"corrupt file {folder / name}: {_cifar_defect(folder / name)}; {fix}")


def _load_cifar10(split: str, root, download: bool) -> ImageTensors:
    import torchvision

    root = Path(root) if root is not None else data_dir()
    folder = root / CIFAR10_FOLDER
    manifest = folder / FAKE_CIFAR10_MANIFEST
    if manifest.is_file():  # a fake: torchvision's loader, with the fake's own checksums; never downloads
        md5s = json.loads(manifest.read_text())["md5"]
        _check_cifar10_folder(
            folder, md5s, f"delete {folder} and re-create it with make_fake_cifar10('{root}')"
        )
        loader = _cifar10_with_md5s(md5s)
    else:
        if not download:
            _check_cifar10_folder(folder, _cifar10_release_md5s(), "delete it and re-run with download=True")
        loader = torchvision.datasets.CIFAR10
    try:
        dataset = loader(str(root), train=split == "train", download=download and not manifest.is_file())
    except OSError as err:  # URLError, HTTPError, no space left, ...
        raise RuntimeError(
            f"could not download CIFAR-10 into {root} ({type(err).__name__}: {err}); check the internet "
            f"connection, or download {torchvision.datasets.CIFAR10.url} by hand and extract it into {root}"
        ) from err
    data, targets = np.asarray(dataset.data), torch.as_tensor(dataset.targets, dtype=torch.int64)
    if data.shape[1:] != (32, 32, 3) or len(targets) != len(data) or (len(targets) and targets.max() >= 10):
        raise RuntimeError(
            f"corrupt CIFAR-10 in {folder}: {data.shape} images with {len(targets)} labels; "
            "delete the folder and re-run with download=True"
        )
    images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) → (N, 3, 32, 32)
    return ImageTensors(images, targets, list(dataset.classes))


# A fake CIFAR-10 in the genuine layout


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


# --------------------------------------------------------------------------------------------------
# Feature-suppression datasets (Chen et al. 2020, "Intriguing Properties of Contrastive Losses", Sec. 4.1)


def _check_dataset(value, name: str, where: str, channels: tuple[int, ...] | None = None) -> ImageTensors:
    if not isinstance(value, ImageTensors):
        raise TypeError(
            f"The '{name}' parameter of {where} must be an ImageTensors (from load_dataset). "
            f"Got an object of type {type(value).__name__} instead."
        )
    if channels is not None and value.channels not in channels:
        raise ValueError(
            f"The '{name}' parameter of {where} must have {' or '.join(map(str, channels))} channel(s). "
            f"Got {value.channels} instead."
        )
    return value


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` → uint8 ``(N, C, size, size)``, bilinear with antialiasing."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    resized = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _paste_max(canvas: torch.Tensor, patches: torch.Tensor, top_left: torch.Tensor) -> None:
    """canvas[n, :, y:y+p, x:x+p] = max(canvas, patches[n]) in place; ``top_left`` ``(N, 2)`` = (y, x)."""
    p = patches.shape[-1]
    offsets = torch.arange(p)
    rows = (top_left[:, 0, None] + offsets)[:, None, :, None]  # (N, 1, p, 1)
    cols = (top_left[:, 1, None] + offsets)[:, None, None, :]  # (N, 1, 1, p)
    n = torch.arange(len(canvas))[:, None, None, None]  # (N, 1, 1, 1)
    c = torch.arange(canvas.shape[1])[None, :, None, None]  # (1, C, 1, 1)
    canvas[n, c, rows, cols] = torch.maximum(canvas[n, c, rows, cols], patches)


class RandBit(ImageTensors):
    """RandBit: ``base`` images with k = ``bits`` constant channels that spell a random integer.

        x̃ = [x ; b₁ … b_k],  b_j = 255 · (j-th bit of u) on every pixel,  u ~ U{0, …, 2^k − 1}

    u is drawn once per image (``bit_labels``), so both views of x̃ share it: I(view₁; view₂) ≥ k bits
    of a feature that is useless for ``labels`` but trivially easy to learn. Contrastive learning latches
    on to it and stops learning x (Chen et al. 2020b, Sec. 4.4, Fig. 7). Augment only the first C
    channels: ``augment.batched(size, C + k, config, protected_channels=dataset.protected_channels)``.

    ``generator`` fixes the draw of u. ``labels`` and ``classes`` are those of ``base``.
    """

    per_sample = ImageTensors.per_sample + ("bit_labels",)

    def __init__(self, base: ImageTensors, bits: int, *, generator: torch.Generator | None = None):
        base = _check_dataset(base, "base", "RandBit")
        bits = check_int(bits, "bits", "RandBit")
        if bits > 62:
            raise ValueError(
                f"The 'bits' parameter of RandBit must be <= 62 (an int64 label). Got {bits} instead."
            )
        n, _, h, w = base.images.shape
        values = torch.randint(0, 2**bits, (n,), generator=generator)  # u, (N,)
        planes = (values[:, None] >> torch.arange(bits)) & 1  # (N, k), bit j of u
        planes = (planes * 255).to(torch.uint8)[:, :, None, None].expand(n, bits, h, w)  # (N, k, H, W)
        super().__init__(torch.cat([base.images, planes], dim=1), base.labels, base.classes)
        self.bits = bits
        self.bit_labels = values
        self.protected_channels = bits
        self.base_channels = base.channels


class MultiDigits(ImageTensors):
    """MultiDigits with two digits: a small and a large one on one blank canvas, not overlapping.

        x̃ = max(place(resize(d_large, L), p_large), place(resize(d_small, S), p_small))   (canvas × canvas)

    With L ≫ S, SimCLR learns the large digit and hardly the small one (Chen et al. 2020b, Sec. 4.3,
    Table 4): the dominant object suppresses the other. ``base`` is a 1-channel dataset (digits or
    Fashion-MNIST); image i's large digit is ``base[i]``, its small digit ``base[partner[i]]`` with
    partner a random permutation. ``small_size`` = S, ``large_size`` = L, ``canvas`` the side (≥ S + L).

    Labels: ``labels_large`` and ``labels_small``; ``labels`` is ``labels_large``. ``only="small"``
    or ``"large"`` draws just that digit (same positions): the paper's linear-probe sets. Positions
    (top-left corners, ``(N, 2)`` as (y, x)) are in ``positions_large`` and ``positions_small``.
    """

    per_sample = ImageTensors.per_sample + (
        "labels_small",
        "labels_large",
        "positions_small",
        "positions_large",
    )

    def __init__(
        self,
        base: ImageTensors,
        small_size: int = 8,
        large_size: int = 16,
        canvas: int = 32,
        *,
        only: str | None = None,
        generator: torch.Generator | None = None,
    ):
        where = "MultiDigits"
        base = _check_dataset(base, "base", where, channels=(1,))
        small_size = check_int(small_size, "small_size", where)
        large_size = check_int(large_size, "large_size", where, minimum=small_size)
        canvas = check_int(canvas, "canvas", where, minimum=small_size + large_size)
        if only is not None:
            check_choice(only, "only", where, ("small", "large"))
        n = len(base)
        partner = torch.randperm(n, generator=generator)
        positions_large, positions_small = self._place(n, small_size, large_size, canvas, generator)
        image = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
        if only != "small":
            _paste_max(image, _resize(base.images, large_size), positions_large)
        if only != "large":
            _paste_max(image, _resize(base.images[partner], small_size), positions_small)
        super().__init__(image, base.labels, base.classes)
        self.labels_large, self.labels_small = base.labels, base.labels[partner]
        self.positions_large, self.positions_small = positions_large, positions_small
        self.small_size, self.large_size = small_size, large_size

    @staticmethod
    def _place(n: int, small: int, large: int, canvas: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform top-left corners (y, x) of both boxes, redrawn where they overlap (rejection sampling:
        uniform over the non-overlapping pairs; canvas ≥ S + L guarantees such pairs exist)."""
        large_at = torch.empty(n, 2, dtype=torch.int64)
        small_at = torch.empty(n, 2, dtype=torch.int64)
        pending = torch.arange(n)
        while len(pending):
            la = torch.randint(0, canvas - large + 1, (len(pending), 2), generator=generator)
            sa = torch.randint(0, canvas - small + 1, (len(pending), 2), generator=generator)
            apart = ((sa >= la + large) | (la >= sa + small)).any(dim=1)  # separated along y or x
            large_at[pending[apart]], small_at[pending[apart]] = la[apart], sa[apart]
            pending = pending[~apart]
        return large_at, small_at


class DigitOnImage(ImageTensors):
    """DigitOnImage: a digit added to a natural image, repeated on a grid×grid layout of fixed cells.

        x̃ = clip(x + Σ_cells place(resize(d, s), cell), 0, 255)   (added to every colour channel)

    Both the image class (``labels``) and the digit (``digit_labels``) are shared by two crops of x̃.
    With few distinct digits, the digit is the easier feature and suppresses learning the image
    (Chen et al. 2020b, Sec. 4.2, Fig. 6: "DigitOnImageNet"). ``digits``: a 1-channel dataset;
    ``images``: natural images (CIFAR-10, or ``make_fake_cifar10`` offline). Each image gets a random
    digit from a pool of ``num_unique`` digit images (all by default: use all for a test set).
    ``digit_size`` = s defaults to the cell side ⌊size / grid⌋.
    """

    per_sample = ImageTensors.per_sample + ("digit_labels", "digit_index")

    def __init__(
        self,
        digits: ImageTensors,
        images: ImageTensors,
        *,
        num_unique: int | None = None,
        grid: int = 3,
        digit_size: int | None = None,
        generator: torch.Generator | None = None,
    ):
        where = "DigitOnImage"
        digits = _check_dataset(digits, "digits", where, channels=(1,))
        images = _check_dataset(images, "images", where)
        grid = check_int(grid, "grid", where)
        cell = images.size // grid
        if cell < 1:
            raise ValueError(
                f"The 'grid' parameter of {where} must be <= the image size {images.size}. Got {grid}."
            )
        digit_size = cell if digit_size is None else check_int(digit_size, "digit_size", where)
        if digit_size > cell:
            raise ValueError(
                f"The 'digit_size' parameter of {where} must be <= the cell side {cell} "
                f"(= {images.size} // grid). Got {digit_size} instead."
            )
        pool_size = len(digits) if num_unique is None else check_int(num_unique, "num_unique", where)
        if pool_size > len(digits):
            raise ValueError(
                f"The 'num_unique' parameter of {where} must be <= the number of digits {len(digits)}. "
                f"Got {pool_size} instead."
            )
        pool = torch.randperm(len(digits), generator=generator)[:pool_size]
        digit_index = pool[torch.randint(0, pool_size, (len(images),), generator=generator)]  # (N,)
        stamp = _resize(digits.images[digit_index], digit_size).to(torch.int16)  # (N, 1, s, s)
        overlay = torch.zeros(len(images), 1, images.size, images.size, dtype=torch.int16)
        margin = (cell - digit_size) // 2
        for gy in range(grid):
            for gx in range(grid):
                y, x = gy * cell + margin, gx * cell + margin
                overlay[:, :, y : y + digit_size, x : x + digit_size] = stamp
        combined = (images.images.to(torch.int16) + overlay).clamp_(0, 255).to(torch.uint8)  # (N, C, H, W)
        super().__init__(combined, images.labels, images.classes)
        self.digit_labels, self.digit_index = digits.labels[digit_index], digit_index
        self.digit_classes = digits.classes
        self.num_unique, self.grid, self.digit_size = pool_size, grid, digit_size
