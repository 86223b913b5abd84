"""Plumbing behind ``load_dataset``: where the files are, how to read and check them.

- ``data_dir()``: the download cache (``$EDU_CONTRAST_DATA``, ``<repo>/data`` in a checkout, else
  ``~/.cache/edu_contrast``). ``$EDU_CONTRAST_DATA`` set to nothing or to a path that is not a folder
  is an error, not a reason to look elsewhere.
- Fashion-MNIST: ``read_idx`` reads LeCun's IDX format; ``_find_fashion_mnist`` searches ``root``
  alone, else ``$EDU_CONTRAST_DATA`` alone, else the Debian package and the cache, and downloads through
  torchvision (a failed download removes what it created); ``_corrupt`` words the error for a damaged
  file. Every message suggests only what applies to where was searched.
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
    "CorruptDataError",
    "DownloadError",
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
ENV = "EDU_CONTRAST_DATA"


class CorruptDataError(RuntimeError):
    """A dataset file is damaged; the message names the file and how to replace it."""


class DownloadError(RuntimeError):
    """A download failed (nothing half-downloaded is left); the message says what to do instead."""


def _env_folder() -> Path | None:
    """``$EDU_CONTRAST_DATA`` as a folder, None when it is not set.

    Raises:
        FileNotFoundError: it is set to nothing, or to a path that is not a folder (a typo must not
            send the search, or a download, somewhere else).
    """
    if ENV not in os.environ:
        return None
    value = os.environ[ENV]
    if not value.strip():
        raise FileNotFoundError(
            f"{ENV} is set but empty; set it to the folder that holds your datasets, or unset it "
            f"(unset {ENV}) to use the usual places"
        )
    folder = Path(value).expanduser()
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundError(
            f"{ENV}={value} {what}; create the folder (mkdir -p {value}), correct the path, or unset "
            f"{ENV} to use the usual places"
        )
    return folder


def data_dir() -> Path:
    """The download cache: ``$EDU_CONTRAST_DATA``, else ``<repo>/data`` in a checkout, else
    ``~/.cache/edu_contrast``. ``$EDU_CONTRAST_DATA`` set but empty or not a folder: FileNotFoundError."""
    env = _env_folder()
    if env is not None:
        return env
    repo = Path(__file__).resolve().parents[2]  # <repo>/edu_contrast/data/_files.py → <repo>
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.home() / ".cache" / "edu_contrast"


# Fashion-MNIST: IDX files


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
    """An IDX file (LeCun's MNIST format), optionally gzipped, as a uint8 array.

    Layout: magic bytes ``00 00 08 ndim`` (08 = unsigned byte), ``ndim`` big-endian uint32 sizes, then
    the data in C order. Empty, truncated, mislabelled or resized files raise ``CorruptDataError``
    ("corrupt file ..."); a file that cannot be read at all raises the ``OSError`` (permissions).
    """
    path = Path(path)
    stored = path.read_bytes()
    if not stored:
        raise _corrupt(path, "it is empty (0 bytes)")
    try:
        raw = gzip.decompress(stored) if path.suffix == ".gz" else stored
    except (OSError, EOFError, zlib.error) as err:
        raise _corrupt(path, f"it cannot be decompressed ({type(err).__name__}: {err})") from err
    if len(raw) < 4:
        raise _corrupt(path, f"it holds only {len(raw)} bytes, fewer than the 4 of an IDX magic number")
    if raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
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


def _corrupt(path: Path, what: str) -> CorruptDataError:
    if DEBIAN_FASHION_MNIST in path.parents:
        fix = "reinstall it with `sudo apt-get install --reinstall dataset-fashion-mnist`"
    else:
        fix = "delete it and re-run with download=True"
    return CorruptDataError(f"corrupt file {path}: {what}; {fix}")


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
    """The (images, labels) IDX files of ``split``: in ``root`` alone; else in ``$EDU_CONTRAST_DATA``
    alone; else in the Debian package and ``data_dir()``; else downloaded by torchvision
    (``download=True``) into ``root``, ``$EDU_CONTRAST_DATA`` or ``data_dir()``."""
    env = _env_folder() if root is None else None
    chosen = Path(root) if root is not None else env
    places = [chosen] if chosen is not None else list(dict.fromkeys([DEBIAN_FASHION_MNIST, data_dir()]))
    for place in places:
        files = _fashion_mnist_files(place, split)
        if files:
            return files
    target = chosen if chosen is not None else data_dir()
    expected = " and ".join(stem + ".gz" for stem in FASHION_MNIST_FILES[split])
    offline = "copy the four files into it"  # what to do when a download fails
    if root is not None:
        where, fix = f"{target}", "copy the files there"
    elif env is not None:
        where = f"{target} (${ENV}, the only place searched while it is set)"
        fix = f"copy the files there, unset {ENV} to search the usual places"
    else:
        where = ", ".join(map(str, places))
        fix = f"run `sudo apt-get install dataset-fashion-mnist`, set {ENV} to a folder holding the files"
        offline = "install it offline with `sudo apt-get install dataset-fashion-mnist`"
    if not download:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {where} (expected {expected}, at the top, in fashion-mnist/ or "
            f"in FashionMNIST/raw/); {fix}, or pass download=True to download them into {target}"
        )
    _download_fashion_mnist(target, split, offline)
    files = _fashion_mnist_files(target, split)
    if files is None:
        raise FileNotFoundError(
            f"Fashion-MNIST download finished but {expected} is not in {target}/FashionMNIST/raw"
        )
    return files


def _download_fashion_mnist(target: Path, split: str, offline: str) -> None:
    """torchvision's download into ``target/FashionMNIST/raw``; on failure, remove what it created."""
    import torchvision

    raw = target / "FashionMNIST" / "raw"
    folders = [raw, raw.parent, target]  # deepest first
    existed = {p for p in folders if p.exists()} | (set(raw.iterdir()) if raw.is_dir() else set())
    try:
        torchvision.datasets.FashionMNIST(str(target), train=split == "train", download=True)
    except BaseException as err:
        for leftover in set(raw.iterdir()) - existed if raw.is_dir() else ():
            leftover.unlink(missing_ok=True)
        for folder in folders:
            if folder not in existed and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if not isinstance(err, (OSError, RuntimeError, ValueError)):  # Ctrl-C and the like
            raise
        raise DownloadError(
            f"could not download Fashion-MNIST into {target} ({type(err).__name__}: {err}); check the "
            f"internet connection, or {offline}"
        ) from err


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
            raise CorruptDataError(f"corrupt file {folder / name}: {_cifar_defect(folder / name)}; {fix}")
