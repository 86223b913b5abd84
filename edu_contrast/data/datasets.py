"""The datasets a student uses: ``ImageTensors``, the two-view wrapper and ``load_dataset``.

Every dataset is an ``ImageTensors``: ``images`` uint8 ``(N, C, H, W)``, ``labels`` int64 ``(N,)`` and
``classes``; indexing gives ``(x, y)`` with x a float ``(C, H, W)`` image in [0, 1]. Small enough to
hold in memory (CIFAR-10 is 150 MB), so a whole dataset can also go to the GPU at once and be
augmented there with ``augment.batched``.

``load_dataset(name, split)`` knows three datasets:

- ``"digits"``: scikit-learn's 8×8 handwritten digits (1797 images, shipped with scikit-learn),
  a fixed stratified split of 1437 train / 360 test images. Never downloads.
- ``"fashion-mnist"``: 28×28 clothing, 60 000 / 10 000 (Xiao et al. 2017), read from the IDX files of
  ``root`` alone; else of ``$EDU_CONTRAST_DATA`` alone (when set); else of the Debian package
  ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist) and the download cache ``data_dir()``;
  else downloaded by torchvision into that one folder.
- ``"cifar10"``: 32×32 natural images, 50 000 / 10 000 (Krizhevsky 2009), torchvision's loader and
  download. ``make_fake_cifar10(root)`` (``fake_cifar10.py``) writes a small stand-in in the genuine
  file layout for offline use.

Finding, checking and reading the files is plumbing, kept apart in ``_files.py``; the
feature-suppression datasets built on these are in ``suppression.py``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from edu_contrast._validation import check_choice, check_int, check_labels, fail
from edu_contrast.data._files import (
    CIFAR10_FOLDER,
    FAKE_CIFAR10_MANIFEST,
    CorruptDataError,
    DownloadError,
    _check_cifar10_folder,
    _cifar10_release_md5s,
    _cifar10_with_md5s,
    _corrupt,
    _find_fashion_mnist,
    data_dir,
    read_idx,
)

__all__ = [
    "ImageTensors",
    "TwoViews",
    "load_dataset",
    "DATASETS",
    "SPLITS",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "CorruptDataError",
    "DownloadError",
]

DATASETS = ("digits", "fashion-mnist", "cifar10")
SPLITS = ("train", "test")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


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
            fail("images", where, "a uint8 torch.Tensor", got, TypeError)
        if images.dim() != 4 or min(images.shape) < 1:
            fail(
                "images", where, "of shape (N, C, H, W) with every size >= 1", f"shape {tuple(images.shape)}"
            )
        labels = check_labels(labels, images.shape[0], "labels", where).to(torch.int64)
        classes = [str(c) for c in classes]
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(classes)):
            fail(
                "labels",
                where,
                f"values that lie in [0, {len(classes)}) (one per class name)",
                f"values in [{int(labels.min())}, {int(labels.max())}]",
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
            fail("n", "subset", f"<= the dataset size {len(self)}", n)
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
            fail(
                "transform",
                "TwoViews",
                "callable (an augmentation)",
                f"an object of type {type(transform).__name__}",
                TypeError,
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

    Raises:
        FileNotFoundError: the dataset is not where it was searched (and ``download=False``), or
            ``$EDU_CONTRAST_DATA`` is set to nothing or to a path that is not a folder.
        CorruptDataError: a file is damaged (empty, truncated, wrong sizes or checksum): named, with the fix.
        DownloadError: the download failed; nothing half-downloaded is left behind.
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


# Fashion-MNIST: IDX files (found by _files._find_fashion_mnist)


def _load_fashion_mnist(split: str, root, download: bool) -> ImageTensors:
    return _read_fashion_mnist(*_find_fashion_mnist(split, root, download))


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


# CIFAR-10: torchvision's pickles (checked by _files._check_cifar10_folder)


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
        raise DownloadError(
            f"could not download CIFAR-10 into {root} ({type(err).__name__}: {err}); check the internet "
            f"connection, or download {torchvision.datasets.CIFAR10.url} by hand and extract it into {root}"
        ) from err
    data, targets = np.asarray(dataset.data), torch.as_tensor(dataset.targets, dtype=torch.int64)
    if data.shape[1:] != (32, 32, 3) or len(targets) != len(data) or (len(targets) and targets.max() >= 10):
        raise CorruptDataError(
            f"corrupt CIFAR-10 in {folder}: {data.shape} images with {len(targets)} labels; "
            "delete the folder and re-run with download=True"
        )
    images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) → (N, 3, 32, 32)
    return ImageTensors(images, targets, list(dataset.classes))
