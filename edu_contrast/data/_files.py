"""Plumbing behind ``load_dataset``: where the files are, how to read and check them.

- ``data_dir()``: the download cache (``$EDU_CONTRAST_DATA``, ``<repo>/data`` in a checkout, else
  ``~/.cache/edu_contrast``).
- Fashion-MNIST: ``read_idx`` reads LeCun's IDX format; ``_find_fashion_mnist`` searches the usual
  places (and downloads through torchvision); ``_corrupt`` words the error for a damaged file.
- CIFAR-10: the release's file names and md5 sums (torchvision's), a torchvision loader that checks a
  fake's own sums, and ``_check_cifar10_folder``, which names the missing or corrupt file.

Kept apart from ``datasets.py`` so that the datasets read without the error handling around them.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "data_dir",
    "read_idx",
    "DEBIAN_FASHION_MNIST",
    "FASHION_MNIST_FILES",
    "CIFAR10_FOLDER",
    "FAKE_CIFAR10_MANIFEST",
]

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR10_FOLDER = "cifar-10-batches-py"
FAKE_CIFAR10_MANIFEST = "edu_contrast_fake.json"  # md5 sums of a fake written by make_fake_cifar10


def data_dir() -> Path:
    """The download cache: ``$EDU_CONTRAST_DATA``, else ``<repo>/data`` in a checkout, else
    ``~/.cache/edu_contrast``."""
    if os.environ.get("EDU_CONTRAST_DATA"):
        return Path(os.environ["EDU_CONTRAST_DATA"]).expanduser()
    repo = Path(__file__).resolve().parents[2]  # <repo>/edu_contrast/data/_files.py → <repo>
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "edu_contrast"


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


def _find_fashion_mnist(split: str, root, download: bool) -> tuple[Path, Path]:
    """The (images, labels) IDX files of ``split``: in ``root``, else in ``$EDU_CONTRAST_DATA``, the Debian
    package and ``data_dir()``, in that order; else downloaded by torchvision (``download=True``)."""
    if root is not None:
        places = [Path(root)]
    else:
        env = [Path(os.environ["EDU_CONTRAST_DATA"])] if os.environ.get("EDU_CONTRAST_DATA") else []
        places = list(dict.fromkeys(env + [DEBIAN_FASHION_MNIST, data_dir()]))
    for place in places:
        files = _fashion_mnist_files(place, split)
        if files:
            return files
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
    return files


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
