"""widgets.serving: the figures draw the lesson's numbers, and the sliders redraw."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from edu_contrast.widgets import serving as w  # noqa: E402


class FakeEmbedder:
    """h = the image's mean and max: enough to give each pair its own cosine similarity."""

    def embed(self, images):
        x = np.asarray(images, dtype=np.float32).reshape(len(images), -1)
        return np.stack([x.mean(1), x.max(1), np.ones(len(x))], axis=1)


def test_plot_pair_and_the_explorer():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 1, 8, 8), dtype=np.uint8)
    fig = w.plot_pair(images[0], images[1], {"torch": 0.5, "onnx-int8": 0.49})
    assert len(fig.axes) == 3 and len(fig.axes[2].patches) == 2
    plt.close(fig)
    box = w.similarity_explorer(
        images, {"torch": FakeEmbedder(), "onnx": FakeEmbedder()}, labels=[0, 1, 2, 3, 4]
    )
    a, b = box.children[0].children
    b.value = 0
    assert box.last_figure.axes[1].get_title() == "#0 (label 0)"
    assert box.last_figure.axes[2].patches[0].get_width() == pytest.approx(1.0)  # an image with itself
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="scores"):
        w.plot_pair(images[0], images[1], {})


def test_plot_backends_has_three_panels():
    comparison = {n: {"linear_accuracy": 0.9, "size_kb": s} for n, s in (("torch", 100), ("onnx-int8", 30))}
    latency = {n: {"p50_ms": 1.0, "p99_ms": 2.0} for n in comparison}
    fig = w.plot_backends(comparison, latency)
    assert len(fig.axes) == 3 and fig.axes[2].patches[1].get_height() == 30
    plt.close(fig)
