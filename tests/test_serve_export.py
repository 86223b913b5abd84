"""Export to ONNX, static int8 quantization and the backends, in process (no server)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
Image = pytest.importorskip("PIL.Image")

from edu_contrast import data, methods, models, probes, serve, train  # noqa: E402
from edu_contrast.serve.app import BadImage, cosine_similarity, decode_image  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train"), data.load_dataset("digits", "test")


@pytest.fixture(scope="module")
def trained(digits):
    """A two-epoch SimCLR on digits: the encoder whose export and quantization are checked."""
    torch.manual_seed(0)  # the same initial weights whatever ran before in this process
    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=8, feature_dim=64)
    train.fit(method, digits[0], epochs=2, batch_size=256, progress=False, device="cpu", knn_test_size=64)
    return method.eval()


@pytest.fixture(scope="module")
def embedders(trained, digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    calibration = serve.calibration_batch(digits[0].images, 256)
    return serve.build_embedders(
        trained, image_shape=(1, 8, 8), calibration_images=calibration, folder=folder
    )


@pytest.mark.slow
def test_onnx_export_matches_torch(embedders, trained, digits):
    diff = serve.max_abs_difference(embedders["onnx"].path, trained, digits[1].images)
    assert diff < 1e-4
    h_torch = embedders["torch"].embed(digits[1].images)
    assert h_torch.shape == (360, 64) and h_torch.dtype == np.float32
    np.testing.assert_allclose(embedders["onnx"].embed(digits[1].images[:1]), h_torch[:1], atol=1e-4)


@pytest.mark.slow
def test_int8_linear_probe_within_one_point_of_fp32(embedders, digits):
    train_data, test_data = digits
    accuracy = {}
    for backend in ("onnx", "onnx-int8"):
        e = embedders[backend]
        h_train, h_test = (torch.from_numpy(e.embed(d.images)) for d in (train_data, test_data))
        accuracy[backend] = probes.linear_probe(h_train, train_data.labels, h_test, test_data.labels)
    assert accuracy["onnx"] > 0.5, accuracy  # the encoder learned something
    # 360 test images: one point is 3.6 images, and the probe moves by about ±1.5 points between int8
    # calibrations and initial weights (measured), so here int8 may cost at most 3 points (11 images).
    assert accuracy["onnx-int8"] >= accuracy["onnx"] - 0.03, accuracy
    int8 = serve.max_abs_difference(embedders["onnx-int8"].path, embedders["torch"].encoder, test_data.images)
    assert 0 < int8 < 1, "int8 features differ from float ones, but by little"


def test_export_has_a_dynamic_batch_and_rejects_a_bad_shape(tmp_path):
    encoder = models.SmallConvNet(3, feature_dim=16, width=4)
    path = serve.export_onnx(encoder, tmp_path / "f.onnx", image_shape=(3, 12, 12))
    e = serve.OnnxEmbedder(path)
    assert e.image_shape == (3, 12, 12) and e.dim == 16
    for b in (1, 5):
        assert e.embed(np.zeros((b, 3, 12, 12), np.uint8)).shape == (b, 16)
    with pytest.raises(ValueError, match="images"):
        e.embed(np.zeros((1, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="image_shape"):
        serve.export_onnx(encoder, tmp_path / "g.onnx", image_shape=(12, 12))


def test_calibration_reader_yields_float_batches_and_rewinds():
    images = torch.full((10, 1, 4, 4), 255, dtype=torch.uint8)
    reader = serve.ImageCalibrationReader(images, batch_size=4)
    batches = list(iter(reader.get_next, None))
    assert [b["images"].shape[0] for b in batches] == [4, 4, 2] and len(reader) == 3
    assert batches[0]["images"].dtype == np.float32 and batches[0]["images"].max() == 1.0
    reader.rewind()
    assert reader.get_next()["images"].shape == (4, 1, 4, 4)


def _encode(array, mode=None, fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, fmt)
    return buffer.getvalue()


def test_decode_converts_channels_and_resizes():
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255
    gray = decode_image(_encode(rgba), (1, 8, 8))
    assert gray.shape == (1, 1, 8, 8) and gray.dtype == np.uint8 and 70 <= gray.max() <= 80  # L of red
    rgb = decode_image(_encode(np.full((5, 5), 200, np.uint8)), (3, 32, 32))
    assert rgb.shape == (1, 3, 32, 32) and (rgb == 200).all()


@pytest.mark.parametrize(
    ("payload", "status"),
    [(b"", 400), (b"GIF89a not allowed", 415), (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, 400)],
)
def test_decode_refuses_bad_bytes(payload, status):
    with pytest.raises(BadImage) as info:
        decode_image(payload, (1, 8, 8))
    assert info.value.status == status


def test_decode_refuses_too_many_pixels_before_decoding():
    with pytest.raises(BadImage, match="pixels") as info:
        decode_image(_encode(np.zeros((100, 100), np.uint8)), (1, 8, 8), max_pixels=999)
    assert info.value.status == 413


def test_cosine_similarity_of_a_zero_vector_is_zero_not_nan():
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0
    assert cosine_similarity(np.array([1.0, 0]), np.array([2.0, 0])) == pytest.approx(1.0)
