"""Loaders read the genuine formats and fail with actionable messages; the feature-suppression
datasets contain exactly the competing features the paper describes."""

from __future__ import annotations

import collections
import gzip
import hashlib
import pickle
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from edu_contrast import data
from edu_contrast.augment import AugmentConfig, batched, per_image
from edu_contrast.data import (
    DigitOnImage,
    ImageTensors,
    MultiDigits,
    RandBit,
    TwoViews,
    _files,
    load_dataset,
    make_fake_cifar10,
    read_idx,
)
from edu_contrast.data.datasets import CorruptDataError, DownloadError

HAS_DEBIAN_FASHION = (data.DEBIAN_FASHION_MNIST / "t10k-images-idx3-ubyte.gz").is_file()


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", "train")


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Fashion-MNIST anywhere: no EDU_CONTRAST_DATA, no Debian package, an empty cache."""
    monkeypatch.delenv("EDU_CONTRAST_DATA", raising=False)
    monkeypatch.setattr(_files, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")  # where the search runs
    monkeypatch.setattr(_files, "data_dir", lambda: tmp_path / "cache")
    return tmp_path


# ------------------------------------------------------------ digits


def test_digits_split_is_stratified_disjoint_and_rescaled():
    from sklearn.datasets import load_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert train.images.shape == (1437, 1, 8, 8) and test.images.shape == (360, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.classes == [str(d) for d in range(10)]
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 360 / 10 = 36 per class, stratified
    # together they are exactly scikit-learn's 1797 images, values 0..16 rescaled to 0..255
    bunch = load_digits()
    expected = np.rint(bunch.images * 255 / 16).astype(np.uint8)
    ours = collections.Counter(
        (img.numpy().tobytes(), int(y)) for part in (train, test) for img, y in zip(part.images, part.labels)
    )
    theirs = collections.Counter((img[None].tobytes(), int(y)) for img, y in zip(expected, bunch.target))
    assert ours == theirs
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
    again = load_dataset("digits", "train")
    assert torch.equal(again.images, train.images) and torch.equal(again.labels, train.labels)


def test_getitem_gives_float_image_in_unit_interval_and_int_label(digits):
    x, y = digits[5]
    assert x.dtype == torch.float32 and x.shape == (1, 8, 8) and isinstance(y, int)
    assert torch.allclose(x * 255, digits.images[5].float())
    assert len(digits) == 1437 and digits.channels == 1 and digits.size == 8


def test_load_dataset_rejects_unknown_names_and_splits():
    with pytest.raises(ValueError, match="'name' parameter of load_dataset must be one of 'digits'"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="'split' parameter of load_dataset"):
        load_dataset("digits", "validation")


# ------------------------------------------------------------ ImageTensors


def test_image_tensors_validates_its_inputs():
    images = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(TypeError, match="'images' parameter of ImageTensors must be a uint8"):
        ImageTensors(images.float(), torch.zeros(4), ["a"])
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        ImageTensors(images[:, 0], torch.zeros(4, dtype=torch.int64), ["a"])
    with pytest.raises(ValueError, match="'labels' parameter of ImageTensors must be a 1-D tensor of 4"):
        ImageTensors(images, torch.zeros(3, dtype=torch.int64), ["a"])
    with pytest.raises(ValueError, match=r"must be values that lie in \[0, 2\)"):
        ImageTensors(images, torch.tensor([0, 1, 2, 0]), ["a", "b"])
    with pytest.raises(TypeError, match="integer tensor of class labels"):
        ImageTensors(images, torch.zeros(4), ["a"])


def test_subset_is_stratified_reproducible_and_a_copy(digits):
    small = digits.subset(100, generator=torch.Generator().manual_seed(0))
    assert len(small) == 100 and isinstance(small, ImageTensors) and small.classes == digits.classes
    assert torch.bincount(small.labels, minlength=10).tolist() == [10] * 10
    again = digits.subset(100, generator=torch.Generator().manual_seed(0))
    other = digits.subset(100, generator=torch.Generator().manual_seed(1))
    assert torch.equal(small.images, again.images) and not torch.equal(small.images, other.images)
    small.images[0] = 0  # a copy: the original is untouched
    assert digits.images.sum() > 0 and not torch.equal(digits.images[: len(small)], small.images)
    odd = digits.subset(23)
    assert len(odd) == 23 and torch.bincount(odd.labels, minlength=10).max() <= 3
    assert len(digits.subset(len(digits))) == len(digits)
    with pytest.raises(ValueError, match="'n' parameter of subset must be <= the dataset size 1437"):
        digits.subset(2000)


def test_subset_keeps_rows_of_every_per_sample_tensor_aligned(digits):
    randbit = RandBit(digits, bits=4, generator=torch.Generator().manual_seed(0))
    small = randbit.subset(50)
    bits_in_planes = (small.images[:, 1:, 0, 0].long() // 255 * (2 ** torch.arange(4))).sum(1)  # (50,)
    assert torch.equal(bits_in_planes, small.bit_labels)
    assert small.protected_channels == 4 and len(small.bit_labels) == 50


# ------------------------------------------------------------ TwoViews


def test_two_views_draws_the_transform_twice(digits):
    torch.manual_seed(0)
    pairs = TwoViews(digits, per_image(8, 1, AugmentConfig.for_size(8)))
    v1, v2, y = pairs[3]
    assert v1.shape == v2.shape == (1, 8, 8) and y == int(digits.labels[3]) and len(pairs) == len(digits)
    assert not torch.equal(v1, v2)  # two independent draws
    same = TwoViews(digits, lambda x: x)
    a, b, _ = same[3]
    assert torch.equal(a, b) and torch.equal(a, digits[3][0])
    with pytest.raises(TypeError, match="'transform' parameter of TwoViews must be callable"):
        TwoViews(digits, "crop")


@pytest.mark.parametrize("kind", ["per_image", "batched"])
def test_randbit_bits_are_identical_in_both_views(digits, kind):
    torch.manual_seed(0)
    randbit = RandBit(digits, bits=3)
    config = AugmentConfig.for_size(8)
    if kind == "per_image":
        t = per_image(8, randbit.channels, config, protected_channels=randbit.protected_channels)
        v1, v2, _ = TwoViews(randbit, t)[7]
    else:
        t = batched(8, randbit.channels, config, protected_channels=randbit.protected_channels)
        x = randbit[7][0][None]  # (1, 4, 8, 8)
        v1, v2 = t(x)[0], t(x)[0]
    assert torch.equal(v1[1:], v2[1:]) and torch.equal(v1[1:], randbit[7][0][1:])
    assert not torch.equal(v1[:1], v2[:1])


# ------------------------------------------------------------ Fashion-MNIST


@pytest.mark.skipif(not HAS_DEBIAN_FASHION, reason="needs `apt-get install dataset-fashion-mnist`")
def test_fashion_mnist_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("EDU_CONTRAST_DATA", raising=False)
    test = load_dataset("fashion-mnist", "test", download=False)
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.classes[0] == "T-shirt/top" and test.classes[9] == "Ankle boot"
    assert 60 < test.images.float().mean() < 90  # mostly dark background, as in the real data


@pytest.mark.slow
@pytest.mark.skipif(not HAS_DEBIAN_FASHION, reason="needs `apt-get install dataset-fashion-mnist`")
def test_fashion_mnist_train_split_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("EDU_CONTRAST_DATA", raising=False)
    train = load_dataset("fashion-mnist", "train", download=False)
    assert train.images.shape == (60_000, 1, 28, 28) and torch.bincount(train.labels).tolist() == [6000] * 10


def test_fashion_mnist_reads_idx_files_from_root(fake_fashion_mnist_root):
    train = load_dataset("fashion-mnist", "train", root=fake_fashion_mnist_root, download=False)
    test = load_dataset("fashion-mnist", "test", root=fake_fashion_mnist_root, download=False)
    assert train.images.shape == (60, 1, 28, 28) and test.images.shape == (20, 1, 28, 28)
    assert train.labels.tolist() == [i % 10 for i in range(60)]
    with gzip.open(fake_fashion_mnist_root / "train-images-idx3-ubyte.gz") as f:
        raw = f.read()
    assert torch.equal(train.images.flatten(), torch.frombuffer(bytearray(raw[16:]), dtype=torch.uint8))


def test_fashion_mnist_found_through_the_environment_variable(fake_fashion_mnist_root, nowhere, monkeypatch):
    monkeypatch.setenv("EDU_CONTRAST_DATA", str(fake_fashion_mnist_root))
    assert len(load_dataset("fashion-mnist", "test", download=False)) == 20


def test_fashion_mnist_found_in_torchvisions_layout_uncompressed(tmp_path, write_idx):
    raw = tmp_path / "FashionMNIST" / "raw"
    write_idx(raw / "t10k-images-idx3-ubyte", np.full((3, 28, 28), 7, dtype=np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([1, 2, 3], dtype=np.uint8))
    test = load_dataset("fashion-mnist", "test", root=tmp_path, download=False)
    assert test.labels.tolist() == [1, 2, 3] and int(test.images.max()) == 7


def test_fashion_mnist_missing_says_how_to_get_it(nowhere):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fashion-mnist", "train", download=False)
    message = str(error.value)
    assert "Fashion-MNIST not found" in message and "train-images-idx3-ubyte.gz" in message
    for fix in ("apt-get install dataset-fashion-mnist", "EDU_CONTRAST_DATA", "download=True"):
        assert fix in message


def test_fashion_mnist_truncated_gzip(fake_fashion_mnist_root):
    path = fake_fashion_mnist_root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(
        RuntimeError, match=r"corrupt file .*train-images-idx3-ubyte.gz: it cannot be decompressed"
    ):
        load_dataset("fashion-mnist", "train", root=fake_fashion_mnist_root, download=False)
    with pytest.raises(RuntimeError, match="delete it and re-run with download=True"):
        load_dataset("fashion-mnist", "train", root=fake_fashion_mnist_root, download=False)


def test_fashion_mnist_wrong_magic_number(fake_fashion_mnist_root, write_idx):
    write_idx(
        fake_fashion_mnist_root / "t10k-images-idx3-ubyte.gz",
        np.zeros((20, 28, 28), np.uint8),
        magic_type=0x0D,
    )
    with pytest.raises(RuntimeError, match=r"magic number is 00000d03, expected 00000803"):
        load_dataset("fashion-mnist", "test", root=fake_fashion_mnist_root, download=False)


def test_fashion_mnist_size_mismatches(fake_fashion_mnist_root, write_idx):
    root = fake_fashion_mnist_root
    write_idx(root / "t10k-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(RuntimeError, match="19 labels for the 20 images"):
        load_dataset("fashion-mnist", "test", root=root, download=False)
    header = (
        bytes([0, 0, 8, 3]) + (30).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    )  # announces 30 images
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(20 * 28 * 28)))
    with pytest.raises(
        RuntimeError, match=r"holds 15680 data bytes, but its header announces \(30, 28, 28\)"
    ):
        load_dataset("fashion-mnist", "test", root=root, download=False)
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(header + bytes(31 * 28 * 28))
    )  # trailing bytes
    with pytest.raises(
        RuntimeError, match=r"holds 24304 data bytes, but its header announces \(30, 28, 28\)"
    ):
        load_dataset("fashion-mnist", "test", root=root, download=False)
    write_idx(root / "t10k-images-idx3-ubyte.gz", np.zeros((20, 32, 32), np.uint8))
    with pytest.raises(RuntimeError, match=r"its images are \(32, 32\), expected \(28, 28\)"):
        load_dataset("fashion-mnist", "test", root=root, download=False)


def test_read_idx_checks_the_dimension_count(tmp_path, write_idx):
    path = write_idx(tmp_path / "x.gz", np.zeros((2, 3), np.uint8))
    assert read_idx(path, ndim=2).shape == (2, 3)
    with pytest.raises(RuntimeError, match="expected 00000801"):
        read_idx(path, ndim=1)


def test_corrupt_debian_file_suggests_reinstalling_the_package(tmp_path, monkeypatch, write_idx):
    debian = tmp_path / "usr-share"
    monkeypatch.delenv("EDU_CONTRAST_DATA", raising=False)
    monkeypatch.setattr(_files, "DEBIAN_FASHION_MNIST", debian)
    write_idx(debian / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8), magic_type=0x09)
    write_idx(debian / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    with pytest.raises(RuntimeError, match=r"apt-get install --reinstall dataset-fashion-mnist"):
        load_dataset("fashion-mnist", "test")


def test_fashion_mnist_download_goes_through_torchvision(nowhere, monkeypatch, write_idx):
    calls = []

    class FakeFashionMNIST:  # what torchvision leaves on disk: root/FashionMNIST/raw/*.gz
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            for prefix, n in (("train", 10), ("t10k", 5)):
                raw = Path(root) / "FashionMNIST" / "raw"
                write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", np.ones((n, 28, 28), np.uint8))
                write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", FakeFashionMNIST)
    test = load_dataset("fashion-mnist", "test")  # download=True by default, into the cache
    assert len(test) == 5 and calls == [(str(nowhere / "cache"), False, True)]


def test_fashion_mnist_failed_download_says_what_to_do(nowhere, monkeypatch):
    def offline(root, train, download):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    with pytest.raises(
        RuntimeError, match="could not download Fashion-MNIST .*apt-get install dataset-fashion-mnist"
    ):
        load_dataset("fashion-mnist", "train")


def test_fashion_mnist_missing_from_root_suggests_only_what_applies_to_root(tmp_path, monkeypatch):
    monkeypatch.setenv("EDU_CONTRAST_DATA", str(tmp_path))  # set, but not searched when root is given
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fashion-mnist", "test", root=tmp_path / "mine", download=False)
    message = str(error.value)
    assert f"Fashion-MNIST not found in {tmp_path / 'mine'} (expected t10k-images-idx3-ubyte.gz" in message
    assert "copy the files there, or pass download=True to download them into" in message
    assert "apt-get" not in message and "EDU_CONTRAST_DATA" not in message


def test_fashion_mnist_environment_variable_is_the_only_place_searched(
    fake_fashion_mnist_root, tmp_path, monkeypatch
):
    monkeypatch.setattr(_files, "DEBIAN_FASHION_MNIST", fake_fashion_mnist_root)  # a copy elsewhere
    monkeypatch.setattr(_files, "data_dir", lambda: fake_fashion_mnist_root)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("EDU_CONTRAST_DATA", str(empty))
    with pytest.raises(FileNotFoundError) as error:  # not a silent fall-back to the other copy
        load_dataset("fashion-mnist", "test", download=False)
    message = str(error.value)
    assert f"not found in {empty} ($EDU_CONTRAST_DATA, the only place searched while it is set)" in message
    assert "unset EDU_CONTRAST_DATA" in message and "apt-get" not in message
    for value, what in [
        ("", "is set but empty"),
        (str(tmp_path / "typo"), "does not exist; create the folder"),
    ]:
        monkeypatch.setenv("EDU_CONTRAST_DATA", value)
        with pytest.raises(FileNotFoundError, match=what):
            load_dataset("fashion-mnist", "test", download=False)
        with pytest.raises(FileNotFoundError, match=what):
            data.data_dir()  # the download cache too: a typo must not create another folder


def test_fashion_mnist_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    def offline(root, train, download):  # torchvision creates raw/, starts a file, then fails
        raw = Path(root) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b partial")
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    root = tmp_path / "mine"
    with pytest.raises(DownloadError) as error:
        load_dataset("fashion-mnist", "train", root=root)
    assert "could not download Fashion-MNIST into" in str(error.value) and "copy the four files" in str(
        error.value
    )
    assert "apt-get" not in str(error.value)
    assert not root.exists()  # no empty FashionMNIST/raw/ (nor a partial file, nor root) left
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(DownloadError):
        load_dataset("fashion-mnist", "train", root=root)
    assert [p.name for p in root.iterdir()] == ["notes.txt"]  # what was there before stays


@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_fashion_mnist_empty_or_tiny_file(tmp_path, write_idx, name):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(CorruptDataError, match=rf"corrupt file .*{name}: it is empty \(0 bytes\)"):
        load_dataset("fashion-mnist", "test", root=tmp_path, download=False)
    (tmp_path / name).write_bytes(gzip.compress(b"\x00\x00") if name.endswith(".gz") else b"\x00\x00")
    with pytest.raises(CorruptDataError, match=r"it holds only 2 bytes, fewer than the 4 of an IDX magic"):
        load_dataset("fashion-mnist", "test", root=tmp_path, download=False)


# ------------------------------------------------------------ CIFAR-10


def test_fake_cifar10_has_the_genuine_pickle_layout(fake_cifar10_root):
    folder = fake_cifar10_root / "cifar-10-batches-py"
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "rb") as f:
            entry = pickle.load(f, encoding="bytes")  # how the CIFAR-10 web page says to read it
        assert set(entry) == {b"batch_label", b"labels", b"data", b"filenames"}
        assert entry[b"data"].dtype == np.uint8 and entry[b"data"].shape == (len(entry[b"labels"]), 3072)
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="bytes")
    assert meta[b"label_names"][0] == b"airplane" and meta[b"num_vis"] == 3072
    with open(folder / "test_batch", "rb") as f:
        assert "data" in pickle.load(f, encoding="latin1")  # how torchvision reads it: str keys


def test_fake_cifar10_is_read_by_torchvisions_loader(fake_cifar10_root):
    train = load_dataset("cifar10", "train", root=fake_cifar10_root, download=False)
    test = load_dataset("cifar10", "test", root=fake_cifar10_root)  # download=True never touches a fake
    assert train.images.shape == (200, 3, 32, 32) and test.images.shape == (50, 3, 32, 32)
    assert train.classes == data.CIFAR10_CLASSES and torch.bincount(train.labels).tolist() == [20] * 10
    with open(fake_cifar10_root / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        entry = pickle.load(f, encoding="bytes")
    first = torch.from_numpy(entry[b"data"]).reshape(-1, 3, 32, 32)  # rows: R plane, G plane, B plane
    assert (
        torch.equal(train.images[: len(first)], first)
        and train.labels[: len(first)].tolist() == entry[b"labels"]
    )
    # torchvision itself only refuses the fake because of the release checksums
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        torchvision.datasets.CIFAR10(str(fake_cifar10_root), train=True, download=False)


def test_fake_cifar10_images_can_be_learned(fake_cifar10_root):
    """Class-dependent shapes and colours: nearest class mean on raw pixels is far above chance (10%)."""
    train = load_dataset("cifar10", "train", root=fake_cifar10_root)
    test = load_dataset("cifar10", "test", root=fake_cifar10_root)
    x, x_test = train.images.flatten(1).float(), test.images.flatten(1).float()  # (N, 3072)
    means = torch.stack([x[train.labels == c].mean(0) for c in range(10)])  # (10, 3072)
    accuracy = (torch.cdist(x_test, means).argmin(1) == test.labels).float().mean().item()
    assert accuracy > 0.5
    assert train.images.float().std() > 30  # not a flat colour


def test_fake_cifar10_is_deterministic_per_seed(tmp_path):
    def digest(root):
        return hashlib.md5((root / "cifar-10-batches-py" / "test_batch").read_bytes()).hexdigest()

    a = make_fake_cifar10(tmp_path / "a", n_train=20, n_test=10, seed=1)
    b = make_fake_cifar10(tmp_path / "b", n_train=20, n_test=10, seed=1)
    c = make_fake_cifar10(tmp_path / "c", n_train=20, n_test=10, seed=2)
    assert digest(a) == digest(b) != digest(c)
    with pytest.raises(ValueError, match="'n_train' parameter of make_fake_cifar10 must be an int >= 10"):
        make_fake_cifar10(tmp_path / "d", n_train=5)


@pytest.fixture
def own_fake_cifar10(tmp_path):
    return make_fake_cifar10(tmp_path / "own", n_train=20, n_test=20)


def test_cifar10_missing_batch(own_fake_cifar10):
    (own_fake_cifar10 / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match=r"incomplete: data_batch_3 missing; .*make_fake_cifar10"):
        load_dataset("cifar10", root=own_fake_cifar10)


def test_cifar10_pickle_with_wrong_shape(own_fake_cifar10):
    path = own_fake_cifar10 / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({"data": np.zeros((20, 3000), np.uint8), "labels": [0] * 20}, f)
    with pytest.raises(RuntimeError, match=r"corrupt file .*test_batch: its data has shape \(20, 3000\)"):
        load_dataset("cifar10", "test", root=own_fake_cifar10)


def test_cifar10_truncated_pickle(own_fake_cifar10):
    path = own_fake_cifar10 / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(RuntimeError, match=r"corrupt file .*data_batch_2: it cannot be unpickled"):
        load_dataset("cifar10", root=own_fake_cifar10)


def test_cifar10_not_found_offline(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("cifar10", root=tmp_path, download=False)
    assert "CIFAR-10 not found" in str(error.value) and "download=True" in str(error.value)
    assert "make_fake_cifar10" in str(error.value)


def test_cifar10_release_checksums_catch_a_modified_file(own_fake_cifar10):
    """Without the fake's manifest the files are checked against the real release: they fail."""
    (own_fake_cifar10 / "cifar-10-batches-py" / data.FAKE_CIFAR10_MANIFEST).unlink()
    with pytest.raises(
        RuntimeError, match=r"corrupt file .*data_batch_1: its md5 checksum does not match.*download=True"
    ):
        load_dataset("cifar10", root=own_fake_cifar10, download=False)


def test_cifar10_failed_download_says_what_to_do(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(RuntimeError, match=r"could not download CIFAR-10 .*cifar-10-python.tar.gz by hand"):
        load_dataset("cifar10", root=tmp_path, download=True)


def test_make_fake_cifar10_refuses_to_overwrite_a_real_one(own_fake_cifar10):
    (own_fake_cifar10 / "cifar-10-batches-py" / data.FAKE_CIFAR10_MANIFEST).unlink()  # now it looks real
    with pytest.raises(FileExistsError, match="holds a real CIFAR-10"):
        make_fake_cifar10(own_fake_cifar10)


def test_data_dir_prefers_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("EDU_CONTRAST_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("EDU_CONTRAST_DATA")
    repo = Path(data.__file__).resolve().parents[2]  # <repo>/edu_contrast/data/__init__.py
    assert data.data_dir() == repo / "data"  # running from a checkout


# ------------------------------------------------------------ RandBit


def test_randbit_appends_constant_bit_planes(digits):
    bits = 5
    randbit = RandBit(digits, bits, generator=torch.Generator().manual_seed(0))
    assert randbit.images.shape == (1437, 1 + bits, 8, 8) and randbit.channels == 1 + bits
    assert randbit.protected_channels == bits and randbit.base_channels == 1
    assert torch.equal(randbit.images[:, :1], digits.images) and torch.equal(randbit.labels, digits.labels)
    planes = randbit.images[:, 1:]  # (N, k, 8, 8)
    assert torch.equal(planes, planes[:, :, :1, :1].expand_as(planes))  # constant over pixels
    assert set(planes.unique().tolist()) == {0, 255}
    decoded = (planes[:, :, 0, 0].long() // 255 * 2 ** torch.arange(bits)).sum(1)  # Σ_j b_j 2^j
    assert torch.equal(decoded, randbit.bit_labels)
    assert 0 <= randbit.bit_labels.min() and randbit.bit_labels.max() < 2**bits
    frequency = planes[:, :, 0, 0].float().mean(0) / 255  # each bit is a fair coin
    assert torch.all((frequency - 0.5).abs() < 0.06)
    again = RandBit(digits, bits, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.bit_labels, randbit.bit_labels)


def test_randbit_bad_arguments(digits):
    with pytest.raises(ValueError, match="'bits' parameter of RandBit must be an int >= 1"):
        RandBit(digits, 0)
    with pytest.raises(ValueError, match="<= 62"):
        RandBit(digits, 63)
    with pytest.raises(TypeError, match="'base' parameter of RandBit must be an ImageTensors"):
        RandBit(digits.images, 2)


# ------------------------------------------------------------ MultiDigits


def resized(images: torch.Tensor, size: int) -> torch.Tensor:
    out = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return out.round().clamp(0, 255).to(torch.uint8)


def test_multidigits_places_a_small_and_a_large_digit_apart(digits):
    small, large, canvas = 8, 16, 32
    multi = MultiDigits(digits, small, large, canvas, generator=torch.Generator().manual_seed(0))
    assert multi.images.shape == (1437, 1, canvas, canvas) and multi.channels == 1
    assert torch.equal(multi.labels, multi.labels_large) and torch.equal(multi.labels_large, digits.labels)
    assert torch.equal(torch.bincount(multi.labels_small), torch.bincount(digits.labels))  # a permutation
    assert (multi.labels_small != multi.labels_large).float().mean() > 0.8
    pl, ps = multi.positions_large, multi.positions_small
    assert pl.min() >= 0 and pl.max() <= canvas - large and ps.min() >= 0 and ps.max() <= canvas - small
    apart = ((ps >= pl + large) | (pl >= ps + small)).any(1)
    assert apart.all()
    big = resized(digits.images, large)
    for i in range(0, 1437, 97):  # the large box holds the resized large digit, the rest is blank
        (y, x), (v, u) = pl[i].tolist(), ps[i].tolist()
        assert torch.equal(multi.images[i, :, y : y + large, x : x + large], big[i])
        blank = multi.images[i].clone()
        blank[:, y : y + large, x : x + large] = 0
        blank[:, v : v + small, u : u + small] = 0
        assert blank.sum() == 0
    both_ways = ((ps[:, 1] >= pl[:, 1] + large) | (ps[:, 1] + small <= pl[:, 1])).float().mean()
    assert 0.2 < both_ways < 0.9  # positions vary: sometimes side by side, sometimes stacked


def test_multidigits_single_digit_sets_for_probing(digits):
    g = torch.Generator
    both = MultiDigits(digits, generator=g().manual_seed(3))
    only_small = MultiDigits(digits, only="small", generator=g().manual_seed(3))
    only_large = MultiDigits(digits, only="large", generator=g().manual_seed(3))
    assert torch.equal(torch.maximum(only_small.images, only_large.images), both.images)
    assert torch.equal(only_small.labels_small, both.labels_small)
    ps = only_small.positions_small
    small_digits = resized(digits.images[torch.randperm(1437, generator=g().manual_seed(3))], 8)
    for i in (0, 500, 1000):
        (v, u) = ps[i].tolist()
        assert torch.equal(only_small.images[i, :, v : v + 8, u : u + 8], small_digits[i])
        assert only_small.images[i].sum() == small_digits[i].sum()


def test_multidigits_bad_arguments(digits, fake_cifar10_root):
    with pytest.raises(ValueError, match="'canvas' parameter of MultiDigits must be an int >= 24"):
        MultiDigits(digits, 8, 16, canvas=20)
    with pytest.raises(ValueError, match="'large_size' parameter of MultiDigits must be an int >= 8"):
        MultiDigits(digits, 8, 4)
    with pytest.raises(ValueError, match="'only' parameter of MultiDigits"):
        MultiDigits(digits, only="both")
    cifar = load_dataset("cifar10", root=fake_cifar10_root)
    with pytest.raises(
        ValueError, match="'base' parameter of MultiDigits must be an ImageTensors with 1 channel"
    ):
        MultiDigits(cifar)


# ------------------------------------------------------------ DigitOnImage


def test_digit_on_image_adds_one_digit_in_every_cell(digits, fake_cifar10_root):
    cifar = load_dataset("cifar10", root=fake_cifar10_root)
    mixed = DigitOnImage(digits, cifar, num_unique=4, generator=torch.Generator().manual_seed(0))
    assert mixed.images.shape == cifar.images.shape and torch.equal(mixed.labels, cifar.labels)
    assert mixed.classes == cifar.classes and mixed.digit_classes == digits.classes
    assert mixed.digit_index.unique().numel() <= 4 and mixed.num_unique == 4
    assert torch.equal(mixed.digit_labels, digits.labels[mixed.digit_index])
    size, cell = mixed.digit_size, 32 // 3
    assert size == cell == 10
    stamps = resized(digits.images[mixed.digit_index], size).long()  # (N, 1, 10, 10)
    expected = cifar.images.long().clone()
    for gy in range(3):
        for gx in range(3):
            expected[:, :, gy * cell : gy * cell + size, gx * cell : gx * cell + size] += stamps
    assert torch.equal(mixed.images, expected.clamp(0, 255).to(torch.uint8))
    assert torch.equal(mixed.images[:, :, 30:, :], cifar.images[:, :, 30:, :])  # outside the grid: untouched


def test_digit_on_image_test_set_uses_every_digit(digits, fake_cifar10_root):
    cifar = load_dataset("cifar10", "test", root=fake_cifar10_root)
    mixed = DigitOnImage(digits, cifar, digit_size=8)
    assert mixed.num_unique == len(digits) and mixed.digit_index.unique().numel() > 40  # 50 draws from 1437
    assert mixed.subset(20).digit_labels.shape == (20,)


def test_digit_on_image_bad_arguments(digits, fake_cifar10_root):
    cifar = load_dataset("cifar10", "test", root=fake_cifar10_root)
    with pytest.raises(
        ValueError, match=r"'digit_size' parameter of DigitOnImage must be <= the cell side 10"
    ):
        DigitOnImage(digits, cifar, digit_size=12)
    with pytest.raises(
        ValueError, match="'num_unique' parameter of DigitOnImage must be <= the number of digits"
    ):
        DigitOnImage(digits, cifar, num_unique=5000)
    with pytest.raises(
        ValueError, match="'digits' parameter of DigitOnImage must be an ImageTensors with 1 channel"
    ):
        DigitOnImage(cifar, cifar)
