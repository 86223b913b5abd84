"""Datasets as in-memory uint8 tensors, the two-view wrapper, and the feature-suppression datasets.

Read in this order:

- ``datasets.py``: ``ImageTensors`` (what every loader returns), ``TwoViews`` (positive pairs) and
  ``load_dataset(name, split)`` for ``"digits"``, ``"fashion-mnist"`` and ``"cifar10"``.
- ``suppression.py``: ``RandBit``, ``MultiDigits`` and ``DigitOnImage`` (Chen, Luo & Li 2021,
  "Intriguing Properties of Contrastive Losses", Sec. 4.1).
- ``tinted.py``: ``Tinted``, grayscale images in a random colour per image (colour as a shortcut).
- ``scenes.py``: ``Scenes``, coloured shapes with template captions (an image–caption set for CLIP),
  ``tokenize``/``decode`` over its closed ``VOCABULARY``, and ``swapped_caption`` (the binding swapped).
- ``fake_cifar10.py``: ``make_fake_cifar10(root)``, a small CIFAR-10 in the genuine layout.
- ``_files.py``: plumbing — the download cache ``data_dir()``, ``read_idx``, checksums and the
  error messages for missing or corrupt files.
"""

from edu_contrast.data._files import (
    CIFAR10_FOLDER,
    DEBIAN_FASHION_MNIST,
    FAKE_CIFAR10_MANIFEST,
    FASHION_MNIST_FILES,
    CorruptDataError,
    DownloadError,
    data_dir,
    read_idx,
)
from edu_contrast.data.datasets import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    SPLITS,
    ImageTensors,
    TwoViews,
    load_dataset,
)
from edu_contrast.data.fake_cifar10 import make_fake_cifar10
from edu_contrast.data.scenes import VOCABULARY, Scenes, decode, swapped_caption, tokenize
from edu_contrast.data.suppression import DigitOnImage, MultiDigits, RandBit
from edu_contrast.data.tinted import Tinted

__all__ = [
    "CorruptDataError",
    "DownloadError",
    "ImageTensors",
    "TwoViews",
    "load_dataset",
    "make_fake_cifar10",
    "data_dir",
    "read_idx",
    "RandBit",
    "MultiDigits",
    "DigitOnImage",
    "Tinted",
    "Scenes",
    "tokenize",
    "decode",
    "swapped_caption",
    "VOCABULARY",
    "DATASETS",
    "SPLITS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "DEBIAN_FASHION_MNIST",
    "CIFAR10_CLASSES",
    "CIFAR10_FOLDER",
    "FAKE_CIFAR10_MANIFEST",
]
