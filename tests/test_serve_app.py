"""The real server: ``python -m edu_contrast serve`` in a subprocess on 127.0.0.1, talked to over HTTP."""

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
pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

from fast_train import digits_simclr_run  # noqa: E402

from edu_contrast import data, serve  # noqa: E402

pytestmark = pytest.mark.slow  # trains a one-epoch run and starts a server process

ROOT = Path(__file__).resolve().parents[1]
MAX_UPLOAD, MAX_PIXELS = 200_000, 300 * 300


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A one-epoch SimCLR on digits, checkpointed by ``train.fit`` (the folder the server is pointed at)."""
    return digits_simclr_run(tmp_path_factory.mktemp("serve") / "run")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["onnx-int8"])
def server(request, run_dir):
    """(base URL, backend) of a live server; stopped after the module's tests."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "edu_contrast",
        "serve",
        "--checkpoint",
        str(run_dir),
        "--backend",
        request.param,
        "--port",
        str(port),
        "--threads",
        "1",
        "--max-upload-bytes",
        str(MAX_UPLOAD),
        "--max-pixels",
        str(MAX_PIXELS),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {process.stdout.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer /health within 60 s")
            time.sleep(0.2)
        yield url, request.param
    finally:
        process.terminate()
        process.wait(timeout=10)


def png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, fmt)
    return buffer.getvalue()


def digit(i: int) -> np.ndarray:
    return data.load_dataset("digits", "test").images[i, 0].numpy()  # (8, 8) uint8


def test_health(server):
    url, backend = server
    answer = httpx.get(f"{url}/health").json()
    assert answer == {"status": "ok", "backend": backend, "image_shape": [1, 8, 8], "dim": 32}


def test_embed_equals_the_backend_in_process(server, run_dir):
    url, backend = server
    image = digit(3)
    answer = httpx.post(f"{url}/embed", files={"image": ("d.png", png(image), "image/png")})
    assert answer.status_code == 200, answer.text
    got = np.array(answer.json()["embedding"], dtype=np.float32)
    expected = serve.load_embedder(run_dir, backend).embed(image[None, None])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_similarity_of_an_image_with_itself_is_one_and_rgb_jpeg_is_converted(server):
    url, _ = server
    payload = png(digit(5))
    files = {"image1": ("a.png", payload, "image/png"), "image2": ("b.png", payload, "image/png")}
    assert httpx.post(f"{url}/similarity", files=files).json()["cosine_similarity"] == pytest.approx(
        1, abs=1e-5
    )
    rgb = np.repeat(np.kron(digit(5), np.ones((4, 4), np.uint8))[..., None], 3, axis=2)  # (32, 32, 3)
    files = {
        "image1": ("a.jpg", png(rgb, fmt="JPEG"), "image/jpeg"),
        "image2": ("b.png", payload, "image/png"),
    }
    answer = httpx.post(f"{url}/similarity", files=files)
    assert answer.status_code == 200 and answer.json()["cosine_similarity"] > 0.5


def _bad_requests():
    good = png(digit(0))
    huge = png(np.zeros((400, 400), np.uint8))  # 160 000 pixels > MAX_PIXELS, yet a small file
    noise = np.random.default_rng(0).integers(0, 256, size=(300, 300, 3), dtype=np.uint8)
    return {
        "not an image": (415, {"image": ("x.png", b"hello, I am text", "image/png")}),
        "truncated png": (400, {"image": ("t.png", good[: len(good) // 2], "image/png")}),
        "empty upload": (400, {"image": ("e.png", b"", "image/png")}),
        "huge image": (413, {"image": ("h.png", huge, "image/png")}),
        "upload too large": (413, {"image": ("n.png", png(noise), "image/png")}),
        "missing field": (422, {"picture": ("d.png", good, "image/png")}),
    }


@pytest.mark.parametrize("case", list(_bad_requests()))
def test_bad_input_gets_a_4xx_json_error_and_the_server_keeps_serving(server, case):
    url, _ = server
    status, files = _bad_requests()[case]
    answer = httpx.post(f"{url}/embed", files=files)
    assert answer.status_code == status, answer.text
    assert isinstance(answer.json()["error"], str) and answer.json()["error"]
    assert httpx.get(f"{url}/health").status_code == 200


def test_missing_second_image_and_a_lying_chunked_upload(server):
    url, _ = server
    answer = httpx.post(f"{url}/similarity", files={"image1": ("a.png", png(digit(0)), "image/png")})
    assert answer.status_code == 422 and "image2" in answer.json()["error"]

    head = b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'

    def chunks():  # a valid multipart body without Content-Length: the server counts the bytes that arrive
        yield head
        for _ in range(50):
            yield b"x" * 10_000
        yield b"\r\n--b--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=b"}
    answer = httpx.post(f"{url}/embed", content=chunks(), headers=headers)
    assert answer.status_code == 413 and "limit" in answer.json()["error"]
    assert httpx.get(f"{url}/health").status_code == 200


def test_serve_without_a_run_is_one_error_line(tmp_path):
    """A mistyped --checkpoint gets one line naming the flag, exit 2, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "edu_contrast", "serve", "--checkpoint", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "error: argument --checkpoint: No checkpoint" in done.stderr
    assert "Traceback" not in done.stderr
