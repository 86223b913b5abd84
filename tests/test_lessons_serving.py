"""lessons.serving: quantization arithmetic, and the backend comparison on a small untrained encoder."""

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from edu_contrast import data, measure, methods, models  # noqa: E402
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


GAP_MARGIN = 0.02  # notebook 10's margin for the class-gap check (docs/check_margins.md, lab mode)


def test_class_gap_effect_compares_the_trained_and_the_random_backend():
    labels = [0, 0, 1, 1]
    trained = FixedEmbedder([[1, 0], [1, 0.1], [0, 1], [0.1, 1]])  # classes on two axes
    random = FixedEmbedder([[1, 1], [1, 0.9], [0.9, 1], [1, 0.8]])  # every h in one direction
    rows = lesson.class_cosines({"torch": trained, "random": random}, np.zeros((4, 1, 2, 2)), labels)
    effects = lesson.class_gap_effects(rows)
    gap = {name: row["same"] - row["different"] for name, row in rows.items()}
    assert effects == pytest.approx({"class gap: trained − random": gap["torch"] - gap["random"]})
    lesson.check_effect(effects, "class gap: trained − random", margin=GAP_MARGIN)
    with pytest.raises(
        ValueError, match="'cosines' parameter of class_gap_effects must be a row for the random"
    ):
        lesson.class_gap_effects({"torch": rows["torch"]})


def test_the_class_gap_check_fails_when_the_served_encoder_is_untrained(setup):
    """The broken input: the untrained (BatchNorm-calibrated) encoder served as the trained one."""
    backends, _, test_data = setup
    rows = lesson.class_cosines(
        {"torch": backends["torch"], "random": backends["onnx"]}, test_data.images, test_data.labels
    )
    effects = lesson.class_gap_effects(rows)
    assert abs(effects["class gap: trained − random"]) < 1e-4  # the same network under two runtimes
    with pytest.raises(AssertionError, match="class gap: trained − random = [+-]0.000, expected > \\+0.020"):
        lesson.check_effect(effects, "class gap: trained − random", margin=GAP_MARGIN)


def test_random_backend_is_the_runs_initial_network_with_calibrated_batchnorm():
    train_data, _ = lesson.load_data("quick")
    state = torch.random.get_rng_state()
    random = lesson.random_backend(train_data, mode="quick", seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the notebook's random stream is untouched
    s = lesson.SETTINGS["quick"]
    torch.manual_seed(3)  # what train_encoder draws before its first step
    initial = methods.build_method("simclr", encoder="convnet", in_channels=1, width=s["width"],
                                   feature_dim=s["feature_dim"])  # fmt: skip
    weights = dict(random.encoder.named_parameters())
    for name, value in initial.encoder.named_parameters():
        torch.testing.assert_close(weights[name], value)
    norms = [m for m in random.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(float(m.running_mean.abs().max()) > 0 for m in norms)  # estimated, not the defaults
    assert random.embed(train_data.images[:4]).shape == (4, s["feature_dim"])
