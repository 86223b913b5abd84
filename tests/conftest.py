"""Shared fixtures: small fake datasets in the genuine on-disk formats, so the real loaders run offline."""

from __future__ import annotations

import contextlib
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from edu_contrast.data import make_fake_cifar10


def write_idx(path: Path, array: np.ndarray, *, magic_type: int = 0x08) -> Path:
    """Write ``array`` (uint8) as an IDX file (gzipped when the name ends in .gz): the MNIST format."""
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
    return path


@pytest.fixture(name="write_idx")
def write_idx_fixture():
    """The IDX writer, for tests that build their own (possibly broken) Fashion-MNIST files."""
    return write_idx


@pytest.fixture
def fake_fashion_mnist_root(tmp_path) -> Path:
    """A folder with the four Fashion-MNIST .gz files: 60 train and 20 test random 28×28 images,
    labels cycling 0..9. Function-scoped: tests may corrupt the files."""
    rng = np.random.default_rng(0)
    root = tmp_path / "fashion"
    for prefix, n in (("train", 60), ("t10k", 20)):
        write_idx(
            root / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        )
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return root


@pytest.fixture(scope="session")
def fake_cifar10_root(tmp_path_factory) -> Path:
    """A fake CIFAR-10 (200 train / 50 test images) in the genuine layout, shared by the session:
    read it, do not modify it (build your own with ``make_fake_cifar10`` to corrupt one)."""
    return make_fake_cifar10(tmp_path_factory.mktemp("cifar"), n_train=200, n_test=50)


# --- the notebooks in quick mode, each run once per test session --------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _notebooks_needed(items, fixture: str) -> list[Path]:
    """The notebooks the selected tests that use ``fixture`` need: a test parametrized by ``path`` needs
    that notebook, any other (e.g. the course site's) needs them all."""
    needed = set()
    for item in items:
        if fixture not in getattr(item, "fixturenames", ()):
            continue
        callspec = getattr(item, "callspec", None)
        path = callspec.params.get("path") if callspec is not None else None
        needed |= {path} if path is not None else set(NOTEBOOKS)
    return sorted(needed)


@contextlib.contextmanager
def kernels_tmpdir(tmp_path_factory):
    """TMPDIR of the notebooks' kernels inside pytest's own temporary folder, which pytest prunes: the
    run folders notebooks make with ``tempfile.mkdtemp`` (09, 10) are not left behind in /tmp."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(tmp_path_factory.mktemp("kernel_tmp")))
        yield


@pytest.fixture(scope="session")
def quick_runs(request, tmp_path_factory) -> dict:
    """File name → ``notebook_runner.NotebookRun`` of every committed notebook a selected test needs, run
    once in quick mode (seed 0), two at a time: tests/test_notebooks.py checks them, tests/test_book.py
    renders them."""
    from edu_contrast.notebook_runner import run_notebooks

    paths = _notebooks_needed(request.session.items, "quick_runs")
    with kernels_tmpdir(tmp_path_factory):
        return {run.path.name: run for run in run_notebooks(paths, mode="quick", jobs=2)}


@pytest.fixture(scope="session")
def solution_runs(request, tmp_path_factory) -> dict:
    """File name → ``NotebookRun`` of the solution notebook (``make solutions``) of every notebook a
    selected test needs, run once in quick mode, two at a time."""
    from edu_contrast import exercises
    from edu_contrast.notebook_runner import run_notebooks

    paths = _notebooks_needed(request.session.items, "solution_runs")
    solutions = [solution for solution, _ in exercises.write_solutions(paths, tmp_path_factory.mktemp("sol"))]
    with kernels_tmpdir(tmp_path_factory):
        return {run.path.name: run for run in run_notebooks(solutions, mode="quick", jobs=2)}
