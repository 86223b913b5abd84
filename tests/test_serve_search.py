"""``POST /search`` on the real server: ``python -m edu_contrast serve --gallery`` in a subprocess on
127.0.0.1, talked to over HTTP; and the start-up refusals of a gallery that does not fit the model."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
Image = pytest.importorskip("PIL.Image")

from fast_train import digits_simclr_run  # noqa: E402

from edu_contrast import cli, data, serve  # noqa: E402
from edu_contrast.serve.gallery import Gallery, load_gallery, save_gallery  # noqa: E402

pytestmark = pytest.mark.slow  # trains a one-epoch run and starts server processes

ROOT = Path(__file__).resolve().parents[1]
MAX_UPLOAD, MAX_PIXELS, MAX_K = 200_000, 300 * 300, 50
SERVE = [sys.executable, "-m", "edu_contrast", "serve"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def run_and_gallery(tmp_path_factory) -> tuple[Path, Path]:
    """A one-epoch SimCLR on digits (h of size 32) and the gallery of its test split (360 images)."""
    folder = tmp_path_factory.mktemp("search")
    digits_simclr_run(folder / "run")
    gallery = folder / "gallery.npz"
    assert cli.main(["gallery", "--checkpoint", str(folder / "run"), "--out", str(gallery)]) == 0
    return folder / "run", gallery


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*flags: str):
    """(process, base URL) of a server answering /health, started with ``flags``."""
    port = _free_port()
    command = [*SERVE, *flags, "--port", str(port), "--threads", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    while True:
        if process.poll() is not None:
            pytest.fail(f"the server exited: {process.stdout.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the server did not answer /health within 90 s")
        time.sleep(0.2)


def _stop(process) -> None:
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module", params=["exact", "hnsw"])
def server(request, run_and_gallery):
    """(base URL, index kind) of a server with the gallery (torch backend: the gallery's own features)."""
    if request.param == "hnsw":
        pytest.importorskip("faiss")
    run, gallery = run_and_gallery
    limits = ["--max-upload-bytes", str(MAX_UPLOAD), "--max-pixels", str(MAX_PIXELS), "--max-k", str(MAX_K)]
    process, url = _start(
        "--checkpoint", str(run), "--gallery", str(gallery), "--index", request.param, *limits
    )
    yield url, request.param
    _stop(process)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def digit(i: int) -> np.ndarray:
    return data.load_dataset("digits", "test").images[i, 0].numpy()  # (8, 8) uint8


def search(url: str, image: bytes, k=None, field: str = "image"):
    form = {} if k is None else {"k": str(k)}
    return httpx.post(f"{url}/search", files={field: ("q.png", image, "image/png")}, data=form, timeout=30)


def test_health_names_the_gallery(server):
    url, kind = server
    assert httpx.get(f"{url}/health").json()["gallery"] == {"size": 360, "index": kind}


@pytest.mark.parametrize("row", [0, 7, 359])
def test_a_gallery_image_finds_itself_first_with_score_one(server, row):
    url, _ = server
    answer = search(url, png(digit(row)), k=5)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert len(results) == 5 and set(results[0]) == {"id", "score"}
    assert results[0]["id"] == row and results[0]["score"] == pytest.approx(1, abs=1e-5)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(-1 - 1e-6 <= s <= 1 + 1e-6 for s in scores)


def test_k_defaults_to_10_and_the_ranking_is_the_brute_force_cosine_one(server, run_and_gallery):
    url, _ = server
    run, gallery_file = run_and_gallery
    gallery = load_gallery(gallery_file)
    results = search(url, png(digit(42))).json()["results"]
    assert len(results) == 10
    h = serve.load_embedder(run, "torch").embed(digit(42)[None, None])[0]  # (d,) what /embed answers
    unit = gallery.embeddings / np.linalg.norm(gallery.embeddings, axis=1, keepdims=True)  # (n, d)
    cosines = unit @ (h / np.linalg.norm(h))  # (n,)
    best = np.argsort(-cosines, kind="stable")[:10]
    assert [r["id"] for r in results] == gallery.ids[best].tolist()
    np.testing.assert_allclose([r["score"] for r in results], cosines[best], atol=1e-5)


def _bad_requests():
    good = png(digit(0))
    huge = png(np.zeros((400, 400), np.uint8))  # 160 000 pixels > MAX_PIXELS, yet a small file
    noise = png(np.random.default_rng(0).integers(0, 256, size=(300, 300, 3), dtype=np.uint8))  # > MAX_UPLOAD
    return {
        "k = 0": (422, good, 0, "image"),
        "k < 0": (422, good, -3, "image"),
        "k above --max-k": (422, good, MAX_K + 1, "image"),
        "k not a number": (422, good, "ten", "image"),
        "missing image": (422, good, 5, "picture"),
        "not an image": (415, b"hello, I am text", 5, "image"),
        "truncated png": (400, good[: len(good) // 2], 5, "image"),
        "empty upload": (400, b"", 5, "image"),
        "image over --max-pixels": (413, huge, 5, "image"),
        "upload over --max-upload-bytes": (413, noise, 5, "image"),
    }


@pytest.mark.parametrize("case", list(_bad_requests()))
def test_bad_input_gets_a_one_line_4xx_and_the_server_keeps_searching(server, case):
    url, _ = server
    status, image, k, field = _bad_requests()[case]
    answer = search(url, image, k, field)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    if case.startswith("k"):
        assert f"'k' must be a whole number from 1 to {MAX_K}" in message
    assert search(url, png(digit(3)), k=1).json()["results"][0]["id"] == 3


def test_a_server_without_gallery_answers_search_with_404(run_and_gallery):
    run, _ = run_and_gallery
    process, url = _start("--checkpoint", str(run))
    try:
        answer = search(url, png(digit(0)))
        assert answer.status_code == 404 and "--gallery" in answer.json()["error"]
        assert "gallery" not in httpx.get(f"{url}/health").json()
    finally:
        _stop(process)


def _refusals(gallery_file: Path, folder: Path) -> dict:
    """Gallery files the server must refuse at start-up, and the words of its one error line."""
    good = load_gallery(gallery_file)
    other = folder / "other-model.npz"  # the same vectors, stamped with another encoder's hash
    save_gallery(
        other, Gallery(good.ids, good.embeddings, good.labels, {**good.identity, "encoder_sha256": "0" * 64})
    )
    wide = folder / "other-dim.npz"  # this encoder's hash, features of another size
    save_gallery(wide, Gallery(good.ids, np.ones((len(good), 16), np.float32), good.labels, good.identity))
    return {
        other: ("--gallery", "embedded by another encoder"),
        wide: ("--gallery", "dimension 16, but --checkpoint's features h have dimension 32"),
        folder / "missing.npz": ("--gallery", "No gallery file"),
    }


def test_a_gallery_that_does_not_fit_the_model_is_refused_at_start_up_in_one_line(run_and_gallery, tmp_path):
    run, gallery_file = run_and_gallery
    for path, (flag, words) in _refusals(gallery_file, tmp_path).items():
        done = subprocess.run(
            [*SERVE, "--checkpoint", str(run), "--gallery", str(path), "--port", str(_free_port())],
            capture_output=True,
            text=True,
            timeout=120,
            env=ENV,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and f"serve: error: argument {flag}: " in lines[0] and words in lines[0], lines
