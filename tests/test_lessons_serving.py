"""lessons.serving: quantization arithmetic, and the backend comparison on a small untrained encoder."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from edu_contrast import data, measure, models  # noqa: E402
from edu_contrast.lessons import serving as lesson  # noqa: E402


def test_quantization_params_keep_zero_exact_and_round_trip_within_half_a_step():
    s, z = lesson.quantization_params(-1.0, 3.0)
    assert s == pytest.approx(4 / 255) and z == round(1 / s)
    t = torch.linspace(-1, 3, 101)
    q = lesson.quantize_uint8(t, s, z)
    assert q.dtype == torch.uint8 and lesson.dequantize(q[None], s, z).shape == (1, 101)
    assert (lesson.dequantize(q, s, z) - t).abs().max() <= s / 2 + 1e-6
    assert lesson.dequantize(lesson.quantize_uint8(torch.zeros(1), s, z), s, z).item() == 0.0
    assert lesson.quantization_params(0.5, 2.0)[1] == 0  # the range is widened to include 0
    with pytest.raises(ValueError, match="scale"):
        lesson.quantize_uint8(t, 0.0, 0)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    train_data = data.load_dataset("digits", "train").subset(300, torch.Generator().manual_seed(0))
    test_data = data.load_dataset("digits", "test").subset(100, torch.Generator().manual_seed(0))
    encoder = models.SmallConvNet(1, feature_dim=16, width=4)
    measure.calibrate_batchnorm(encoder, train_data.images)  # BatchNorm statistics of the data
    folder = tmp_path_factory.mktemp("backends")
    return (
        lesson.build_backends(encoder.eval(), train_data, folder, calibration_size=128),
        train_data,
        test_data,
    )


def test_compare_backends_latency_and_similarities(setup):
    backends, train_data, test_data = setup
    assert list(backends) == ["torch", "onnx", "onnx-int8"]
    rows = lesson.compare_backends(backends, train_data, test_data)
    assert rows["torch"]["max_abs_difference"] == 0.0 and rows["onnx"]["max_abs_difference"] < 1e-4
    assert rows["onnx-int8"]["size_kb"] < rows["onnx"]["size_kb"]
    assert all(0 <= r["linear_accuracy"] <= 1 for r in rows.values())
    times = lesson.latency(backends, test_data.images, repeats=3)
    assert all(0 < t["p50_ms"] <= t["p99_ms"] for t in times.values())
    same = lesson.similarities(backends, test_data.images[0], test_data.images[0])
    assert all(v == pytest.approx(1, abs=1e-4) for v in same.values())
    other = lesson.similarities(backends, test_data.images[0], test_data.images[1])
    assert np.ptp(list(other.values())) < 0.1  # the backends agree


class FixedEmbedder:
    """An Embedder stand-in whose h is given: row i of ``features`` for image i."""

    def __init__(self, features):
        self.features = np.asarray(features, dtype=np.float32)

    def embed(self, images):
        return self.features[: len(images)]


def test_class_cosines_average_same_and_different_class_pairs():
    h = [[1, 0], [2, 0], [0, 3], [1, 1]]  # classes 0, 0, 1, 1
    rows = lesson.class_cosines({"fixed": FixedEmbedder(h)}, np.zeros((4, 1, 2, 2)), [0, 0, 1, 1])
    same_pairs = [1.0, 1.0, 2**-0.5, 2**-0.5]  # (0, 1), (1, 0), (2, 3), (3, 2)
    different_pairs = [0.0, 2**-0.5, 0.0, 2**-0.5] * 2  # (0, 2), (0, 3), (1, 2), (1, 3) and back
    assert rows["fixed"]["same"] == pytest.approx(np.mean(same_pairs))
    assert rows["fixed"]["different"] == pytest.approx(np.mean(different_pairs))


def test_modes_pick_the_data_and_a_wrong_mode_is_named():
    assert set(lesson.SETTINGS) == {"quick", "lab", "full"}
    train_data, test_data = lesson.load_data("quick")
    assert train_data.images.shape[1:] == (1, 8, 8) and len(test_data) > 0
    with pytest.raises(ValueError, match="'mode' parameter of load_data"):
        lesson.load_data("fast")
    with pytest.raises(ValueError, match="'mode' parameter of train_encoder"):
        lesson.train_encoder("unused", mode="lab ")
