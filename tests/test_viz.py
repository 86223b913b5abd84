"""Plots carry the data they claim to show (Agg backend, no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from edu_contrast import diagnostics, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- similarity matrix


def test_similarity_matrix_shows_the_matrix_and_marks_two_view_positives():
    z = torch.nn.functional.normalize(_randn(8, 4), dim=1)  # cat([z1, z2]) with N = 4
    sim = z @ z.T  # (2N, 2N)
    sim.fill_diagonal_(float("-inf"))  # the self-similarity NT-Xent leaves out
    fig = viz.plot_similarity_matrix(sim / 0.5, positives="two_views", title="NT-Xent logits")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.mask[np.arange(8), np.arange(8)].all()  # -inf diagonal blank, not a NaN colour scale
    np.testing.assert_allclose(image.data[~image.mask], (sim / 0.5)[torch.isfinite(sim)].numpy(), rtol=1e-6)
    marked = ax.collections[0].get_offsets()  # (2N, 2) as (column, row)
    np.testing.assert_array_equal(marked[:, 1], np.arange(8))
    np.testing.assert_array_equal(marked[:, 0], [4, 5, 6, 7, 0, 1, 2, 3])  # positive of i is i ± N
    assert ax.get_title() == "NT-Xent logits"
    assert len(fig.axes) == 2  # the heatmap and its colorbar


def test_similarity_matrix_accepts_mask_or_column_indices_and_an_ax():
    sim = np.arange(12.0).reshape(3, 4)
    fig, ax = plt.subplots()
    assert viz.plot_similarity_matrix(sim, ax=ax, positives=[1, 3, 0], colorbar=False) is fig
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[1, 0], [3, 1], [0, 2]])
    mask = np.zeros((3, 4), dtype=bool)
    mask[2, 2] = True
    fig = viz.plot_similarity_matrix(sim, positives=mask)
    np.testing.assert_array_equal(fig.axes[0].collections[0].get_offsets(), [[2, 2]])


def test_similarity_matrix_bad_inputs():
    with pytest.raises(ValueError, match="'sim' parameter of plot_similarity_matrix.*2-D"):
        viz.plot_similarity_matrix(np.zeros(3))
    with pytest.raises(ValueError, match="'sim' parameter.*square"):
        viz.plot_similarity_matrix(np.zeros((3, 3)), positives="two_views")
    with pytest.raises(ValueError, match="'positives' parameter"):
        viz.plot_similarity_matrix(np.zeros((4, 4)), positives="diagonal")
    with pytest.raises(ValueError, match="'positives' parameter"):
        viz.plot_similarity_matrix(np.zeros((4, 4)), positives=[0, 1])


# ---------------------------------------------------------------- spectrum


def test_spectrum_lines_equal_the_singular_spectra():
    healthy = _randn(50, 6, seed=1)
    collapsed = _randn(50, 1, seed=2) @ _randn(1, 6, seed=3) + 1e-3 * _randn(50, 6, seed=4)
    fig = viz.plot_spectrum({"healthy": healthy, "collapsed": collapsed})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["healthy", "collapsed"]
    for line, z in zip(lines, (healthy, collapsed)):
        np.testing.assert_allclose(line.get_ydata(), diagnostics.singular_spectrum(z).numpy())
        np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 7))
    assert ax.get_legend() is not None


def test_spectrum_accepts_one_run_a_precomputed_spectrum_and_normalises():
    fig = viz.plot_spectrum(np.array([4.0, 2.0, 1.0]), log=False, normalize=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_legend() is None
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.25])


def test_spectrum_rejects_bad_embeddings():
    with pytest.raises(ValueError, match="'z_or_dict' parameter of plot_spectrum"):
        viz.plot_spectrum({"run": torch.full((4, 3), float("nan"))})


# ---------------------------------------------------------------- alignment–uniformity


def test_alignment_uniformity_plane_puts_uniformity_on_x_and_alignment_on_y():
    points = {"simclr": [(0.9, -1.0), (0.6, -2.5), (0.5, -3.4)], "supervised": [(0.3, -2.0)]}
    fig = viz.plot_alignment_uniformity(points)
    ax = fig.axes[0]
    trajectory, single = ax.get_lines()
    np.testing.assert_array_equal(trajectory.get_xdata(), [-1.0, -2.5, -3.4])
    np.testing.assert_array_equal(trajectory.get_ydata(), [0.9, 0.6, 0.5])
    np.testing.assert_array_equal(single.get_xdata(), [-2.0])
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), [[-3.4, 0.5]])  # the end star
    assert "uniform" in ax.get_xlabel() and "align" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["simclr", "supervised"]


def test_alignment_uniformity_bad_points():
    with pytest.raises(ValueError, match="'points' parameter of plot_alignment_uniformity"):
        viz.plot_alignment_uniformity({"run": [(1.0, 2.0, 3.0)]})
    with pytest.raises(ValueError, match="'points' parameter"):
        viz.plot_alignment_uniformity({"run": []})


# ---------------------------------------------------------------- embeddings


def test_embedding_2d_pca_scatter_equals_the_principal_components():
    z = _randn(40, 5, seed=5) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.1])
    labels = torch.arange(4).repeat(10)
    fig = viz.plot_embedding_2d(z, labels, method="pca")
    ax = fig.axes[0]
    offsets = np.asarray(ax.collections[0].get_offsets())  # (N, 2)
    centred = (z - z.mean(0)).double().numpy()
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    expected = u[:, :2] * s[:2]  # principal-component scores, up to the sign of each axis
    np.testing.assert_allclose(np.abs(offsets), np.abs(expected), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ax.collections[0].get_array(), labels.numpy())  # colour = class index
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "2", "3"]
    assert "PCA" in ax.get_title()


def test_embedding_2d_distinct_colours_for_non_contiguous_labels():
    fig = viz.plot_embedding_2d(_randn(6, 3), np.array([3, 3, 7, 7, 42, 42]), method="pca")
    fig.canvas.draw()  # colours are mapped at draw time
    colours = fig.axes[0].collections[0].get_facecolors()
    assert len({tuple(c) for c in colours}) == 3
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["3", "7", "42"]


def test_embedding_2d_bad_inputs():
    with pytest.raises(ValueError, match="'method' parameter of plot_embedding_2d"):
        viz.plot_embedding_2d(_randn(10, 3), method="tsne")
    with pytest.raises(ValueError, match="'labels' parameter of plot_embedding_2d"):
        viz.plot_embedding_2d(_randn(10, 3), torch.zeros(9, dtype=torch.long), method="pca")
    with pytest.raises(ValueError, match="'z' parameter of plot_embedding_2d"):
        viz.plot_embedding_2d(_randn(10, 1), method="pca")


@pytest.mark.slow
def test_embedding_2d_umap_runs_and_separates_blobs():
    pytest.importorskip("umap")
    centres = 8 * torch.eye(3, 6)
    labels = torch.arange(3).repeat_interleave(30)
    z = centres[labels] + 0.2 * _randn(90, 6, seed=6)
    fig = viz.plot_embedding_2d(z, labels, method="umap", n_neighbors=10)
    offsets = np.asarray(fig.axes[0].collections[0].get_offsets())
    assert offsets.shape == (90, 2) and np.isfinite(offsets).all()
    means = np.stack([offsets[labels.numpy() == c].mean(0) for c in range(3)])
    spread = max(offsets[labels.numpy() == c].std(0).max() for c in range(3))
    assert np.min(np.linalg.norm(means[:, None] - means[None], axis=-1) + 1e9 * np.eye(3)) > 2 * spread
    assert "UMAP" in fig.axes[0].get_title()


# ---------------------------------------------------------------- circle and sphere


def test_circle_puts_normalised_points_on_the_unit_circle():
    z = _randn(20, 2, seed=7) * 3
    labels = torch.arange(2).repeat(10)
    fig = viz.plot_circle(z, labels)
    ax = fig.axes[0]
    offsets = np.asarray(ax.collections[0].get_offsets())
    np.testing.assert_allclose(offsets, torch.nn.functional.normalize(z.double(), dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.hypot(*ax.get_lines()[0].get_data()), 1.0)  # the drawn circle
    with pytest.raises(ValueError, match=r"'z2d' parameter of plot_circle.*\(N, 2\)"):
        viz.plot_circle(_randn(5, 3))


def test_sphere_puts_normalised_points_on_the_unit_sphere():
    z = _randn(15, 3, seed=8) * 0.1
    fig = viz.plot_sphere(z, np.zeros(15, dtype=int))
    ax = fig.axes[0]
    assert ax.name == "3d"
    xs, ys, zs = ax.collections[-1]._offsets3d
    points = np.stack([xs, ys, zs], axis=1)
    np.testing.assert_allclose(points, torch.nn.functional.normalize(z.double(), dim=1).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="'ax' parameter of plot_sphere.*3-D"):
        viz.plot_sphere(z, ax=plt.subplots()[1])
    with pytest.raises(ValueError, match="'z3d' parameter of plot_sphere"):
        viz.plot_sphere(_randn(5, 2))


# ---------------------------------------------------------------- history


_HISTORY = [
    {
        "epoch": 1,
        "loss": 5.0,
        "knn_accuracy": None,
        "positive_cosine": 0.2,
        "erank_z": 3.0,
        "seconds": 9.0,
    },
    {
        "epoch": 2,
        "loss": 4.0,
        "knn_accuracy": 0.40,
        "positive_cosine": 0.5,
        "erank_z": 5.0,
        "seconds": 8.0,
    },
    {"epoch": 3, "loss": 3.5, "positive_cosine": 0.7, "erank_z": 6.0, "seconds": 8.5},
    {
        "epoch": 4,
        "loss": 3.2,
        "knn_accuracy": 0.55,
        "positive_cosine": 0.8,
        "erank_z": 6.5,
        "seconds": 8.1,
    },
]


def test_history_one_subplot_per_key_with_the_recorded_values():
    fig = viz.plot_history(_HISTORY, ["loss", "knn_accuracy"])
    loss_ax, knn_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(loss_ax.get_lines()[0].get_ydata(), [5.0, 4.0, 3.5, 3.2])
    np.testing.assert_array_equal(knn_ax.get_lines()[0].get_xdata(), [2, 4])  # epochs without kNN skipped
    np.testing.assert_array_equal(knn_ax.get_lines()[0].get_ydata(), [0.40, 0.55])
    assert knn_ax.get_xlabel() == "epoch" and knn_ax.get_title() == "kNN accuracy"


def test_history_default_keys_and_shared_ax():
    fig = viz.plot_history(_HISTORY)
    assert [ax.get_title() for ax in fig.axes] == [
        "training loss",
        "kNN accuracy",
        "positive cosine",
        "effective rank of z",
    ]  # epoch and seconds are not curves by default
    fig, ax = plt.subplots()
    assert viz.plot_history(_HISTORY, ["positive_cosine", "erank_z"], ax=ax) is fig
    assert len(ax.get_lines()) == 2 and ax.get_legend() is not None


def test_history_bad_inputs():
    with pytest.raises(ValueError, match="'keys' parameter of plot_history.*among"):
        viz.plot_history(_HISTORY, ["accuracy"])
    with pytest.raises(TypeError, match="'history' parameter of plot_history"):
        viz.plot_history({"loss": [1, 2]})
    with pytest.raises(TypeError, match="'history' parameter"):
        viz.plot_history([])
    with pytest.raises(ValueError, match="'ax' parameter of plot_history.*2 axes"):
        viz.plot_history(_HISTORY, ["loss", "seconds"], ax=plt.subplots(1, 3)[1])


def test_no_function_calls_show(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() called"))
    viz.plot_spectrum(_randn(10, 3))
    viz.plot_history(_HISTORY)
    viz.plot_circle(_randn(5, 2))


def test_embedding_2d_falls_back_to_pca_without_umap(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "umap", None)  # makes `import umap` raise ImportError
    with pytest.warns(UserWarning, match="falls back to PCA"):
        fig = viz.plot_embedding_2d(_randn(12, 4), method="umap")
    assert "PCA" in fig.axes[0].get_title()
