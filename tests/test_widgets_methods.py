"""Notebook 06 explorers: the queue picture is MoCo's queue, the EMA weights are the unrolled update."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast.data import ImageTensors
from edu_contrast.methods import MoCo, SimCLR
from edu_contrast.methods.base import ema_update
from edu_contrast.widgets import methods as W


class _Flat(nn.Module):
    feature_dim = 1

    def forward(self, x):
        return x.flatten(1)[:, :1]


@pytest.mark.parametrize(
    ("size", "batch", "steps"), [(8, 3, 0), (8, 3, 1), (8, 3, 5), (64, 16, 6), (5, 7, 3), (12, 4, 3)]
)
def test_queue_ages_match_moco_enqueue(size, batch, steps):
    """Enqueue keys that encode their step into a real MoCo queue and read the steps back."""
    moco = MoCo(_Flat(), hidden_dim=2, out_dim=2, queue_size=size)
    moco.queue.copy_(torch.tensor([[1.0, 0.0]]).expand(size, 2))  # the marker of "never written"
    for t in range(1, steps + 1):
        angle = torch.full((batch,), 0.1 * t)
        moco.enqueue(torch.stack([torch.cos(angle), torch.sin(angle)], dim=1))  # (N, 2) unit keys of step t
    step = torch.round(torch.atan2(moco.queue[:, 1], moco.queue[:, 0]) / 0.1).long().numpy()  # 0 = never
    expected = np.where(step > 0, steps - step, -1)
    ages, ptr = W.queue_ages(size, batch, steps)
    np.testing.assert_array_equal(ages, expected)
    assert ptr == int(moco.queue_ptr)


def test_queue_ages_closed_forms():
    ages, ptr = W.queue_ages(8, 2, 3)  # three batches of two: slots 0-5 written, ages 2, 2, 1, 1, 0, 0
    assert ages.tolist() == [2, 2, 1, 1, 0, 0, -1, -1] and ptr == 6
    ages, _ = W.queue_ages(4096, 256, 1000)  # a full queue holds exactly the last K/N = 16 batches
    assert ages.min() == 0 and ages.max() == 15 and np.bincount(ages).tolist() == [256] * 16


def test_key_encoder_weights_are_the_unrolled_ema():
    """ξ_T after T updates from ξ_0 = 0 is Σ_a (1 − m) m^a θ_{T−a}: compare with ema_update on scalars."""
    m, steps = 0.8, 12
    target, online = nn.Linear(1, 1, bias=False).double(), nn.Linear(1, 1, bias=False).double()
    nn.init.zeros_(target.weight)
    thetas = torch.randn(steps + 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for t in range(1, steps + 1):
        online.weight.data.fill_(float(thetas[t]))
        ema_update(target, online, m)
    weights = W.key_encoder_weights(m, steps - 1)  # a = 0 … T − 1 ↔ θ_T … θ_1
    expected = float(np.dot(weights, thetas[1:].flip(0).numpy()))
    assert float(target.weight.detach()) == pytest.approx(expected, rel=1e-12)
    assert W.key_encoder_weights(0.99, 10_000).sum() == pytest.approx(1.0, abs=1e-6)
    assert W.key_encoder_weights(0.0, 3).tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"queue_size": 4096, "batch_size": 64, "steps": 100, "momentum": 0.999},
        {"queue_size": 8, "batch_size": 64, "steps": 0, "momentum": 0.0},
    ],
)
def test_draw_queue_draws_one_wedge_per_age_run(kwargs):
    fig = W.draw_queue(**kwargs)
    ring = fig.axes[0]
    ages, _ = W.queue_ages(kwargs.get("queue_size", 64), kwargs.get("batch_size", 16), kwargs.get("steps", 6))
    assert len(ring.patches) == len(W._runs(ages))
    plt.close(fig)


def test_runs_cover_the_queue():
    ages = np.array([2, 2, 1, 1, 0, -1, -1, 2])
    runs = W._runs(ages)
    assert runs == [(0, 2, 2), (2, 2, 1), (4, 1, 0), (5, 2, -1), (7, 1, 2)]
    assert sum(length for _, length, _ in runs) == len(ages)


def test_queue_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'momentum' parameter of draw_queue must be in \\[0, 1\\)"):
        W.draw_queue(momentum=1.0)
    with pytest.raises(ValueError, match="'queue_size' parameter of queue_ages"):
        W.queue_ages(0, 4, 1)
    with pytest.raises(ValueError, match="'queue_size' parameter of queue_explorer"):
        W.queue_explorer(queue_size=100)


def test_queue_explorer_redraws():
    box = W.queue_explorer()
    first = box.last_figure
    sliders = box.children[0].children
    sliders[0].value = 4096
    assert box.last_figure is not first
    assert "M = 4096" in box.last_figure.axes[0].get_title()


ROWS = {
    "SimCLR": {
        "linear_accuracy": 0.9,
        "alignment": 0.5,
        "uniformity": -3.0,
        "effective_rank": 40.0,
        "seconds": 2.0,
    },
    "BYOL": {
        "linear_accuracy": 0.8,
        "alignment": 0.1,
        "uniformity": -1.0,
        "effective_rank": 20.0,
        "seconds": 3.0,
    },
    "random": {"linear_accuracy": 0.7, "alignment": None, "effective_rank": 60.0},
}


def test_comparison_table_bolds_the_best_of_each_column():
    table = W.comparison_table(ROWS)
    lines = table.splitlines()
    assert lines[0].startswith("| method | probe, all labels | alignment | uniformity |")
    assert "| SimCLR | **0.900** | 0.500 | **-3.000** |" in table
    assert "| BYOL | 0.800 | **0.100** |" in table
    assert "| random | 0.700 | — | — | 60.0 | — |" in table  # no positive_cosine column; erank never bold
    assert len(lines) == 2 + len(ROWS)


def test_comparison_table_rejects_unknown_columns():
    with pytest.raises(ValueError, match="'columns' parameter of comparison_table"):
        W.comparison_table(ROWS, ["speed"])
    with pytest.raises(ValueError, match="'rows' parameter of comparison_table"):
        W.comparison_table({})


def test_plot_comparison_and_explorer():
    fig = W.plot_comparison(ROWS, highlight="BYOL")
    assert len(fig.axes) == 4
    assert fig.axes[0].patches[1].get_linewidth() == 2.5
    plt.close(fig)
    coords = {name: np.random.default_rng(0).normal(size=(30, 2)) for name in ROWS}
    labels = np.arange(30) % 3
    box = W.comparison_explorer(ROWS, coords, labels)
    box.children[0].children[0].value = "BYOL"
    assert box.last_figure.axes[0].get_title().startswith("BYOL")
    plt.close("all")


def test_embedding_metrics_match_the_diagnostics_on_augmented_views():
    from edu_contrast import augment, diagnostics

    torch.manual_seed(0)
    method = SimCLR(_TinyConv(), hidden_dim=16, out_dim=8).eval()
    images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8)
    data = ImageTensors(images, torch.arange(40) % 4, list("abcd"))
    state = torch.get_rng_state()
    got = W.embedding_metrics(method, data, max_images=30, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # global random state untouched
    aug = augment.batched(8, 1)
    torch.manual_seed(3)
    x = images[:30].float() / 255
    with torch.no_grad():
        z1, z2 = method.project(aug(x)), method.project(aug(x))
        h = method.embed(x)
    assert got["alignment"] == pytest.approx(diagnostics.alignment(z1, z2), rel=1e-5)
    assert got["uniformity"] == pytest.approx(diagnostics.uniformity(z1), rel=1e-5)
    assert got["positive_cosine"] == pytest.approx(diagnostics.positive_cosine(z1, z2), rel=1e-5)
    assert got["effective_rank"] == pytest.approx(diagnostics.effective_rank(h), rel=1e-5)
    with torch.no_grad():
        z = method.project(x)
    assert got["effective_rank_z"] == pytest.approx(diagnostics.effective_rank(z), rel=1e-5)
    assert got["alignment"] == pytest.approx(2 - 2 * got["positive_cosine"], abs=1e-5)


class _TinyConv(nn.Module):
    feature_dim = 6

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )

    def forward(self, x):
        return self.net(x)


def test_collapsed_embeddings_show_in_the_metrics():
    """A method whose h and z are constant: positive cosine 1, alignment 0, effective rank 1."""

    class Constant(nn.Module):
        feature_dim = 3

        def forward(self, x):
            return F.normalize(torch.ones(x.shape[0], 3), dim=1) + 0 * x.flatten(1)[:, :3]

    method = SimCLR(Constant(), hidden_dim=4, out_dim=4).eval()
    data = ImageTensors(
        torch.randint(0, 256, (20, 1, 8, 8), dtype=torch.uint8), torch.zeros(20, dtype=torch.long), ["a"]
    )
    got = W.embedding_metrics(method, data)
    assert got["positive_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert got["alignment"] == pytest.approx(0.0, abs=1e-5)
    assert got["effective_rank"] == pytest.approx(1.0, abs=1e-5)


def test_few_label_accuracy_uses_per_class_labels_and_averages_draws(monkeypatch):
    from edu_contrast import probes

    seen = []

    def fake_probe(train_x, train_y, test_x, test_y):
        seen.append(torch.bincount(train_y, minlength=3).tolist())
        return 0.25 * len(seen)

    monkeypatch.setattr(probes, "linear_probe", fake_probe)
    y = torch.arange(60) % 3
    got = W.few_label_accuracy(
        torch.randn(60, 4), y, torch.randn(9, 4), torch.arange(9) % 3, per_class=4, draws=3
    )
    assert seen == [[4, 4, 4]] * 3  # each draw: exactly 4 labelled images per class
    assert got == pytest.approx((0.25 + 0.5 + 0.75) / 3)


def test_few_label_accuracy_separates_good_from_useless_features():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    good = F.one_hot(y, 3).float() + 0.2 * torch.randn(300, 3, generator=g)  # (300, 3) class-revealing
    useless = torch.randn(300, 3, generator=g)
    assert W.few_label_accuracy(good[:200], y[:200], good[200:], y[200:], per_class=5) > 0.9
    assert W.few_label_accuracy(useless[:200], y[:200], useless[200:], y[200:], per_class=5) < 0.55


def test_evaluate_method_and_embedding_maps():
    torch.manual_seed(0)
    method = SimCLR(_TinyConv(), hidden_dim=16, out_dim=8).eval()
    images = torch.randint(0, 256, (60, 1, 8, 8), dtype=torch.uint8)
    data = ImageTensors(images, torch.arange(60) % 3, list("abc"))
    row = W.evaluate_method(method, data, data, per_class=5, max_images=40)
    assert set(row) == {
        "linear_accuracy",
        "few_label_accuracy",
        "alignment",
        "uniformity",
        "positive_cosine",
        "effective_rank",
        "effective_rank_z",
    }
    assert all(isinstance(v, float) for v in row.values())
    h = {"a": torch.randn(30, 5), "b": torch.randn(30, 5), "c": torch.randn(30, 5), "d": torch.randn(30, 5)}
    fig, coords = W.embedding_maps(h, np.arange(30) % 3, method="pca", columns=3)
    assert list(coords) == ["a", "b", "c", "d"] and coords["b"].shape == (30, 2)
    from sklearn.decomposition import PCA

    expected = PCA(2, svd_solver="full", random_state=0).fit_transform(h["b"].double().numpy())
    np.testing.assert_allclose(coords["b"], expected, rtol=1e-6, atol=1e-8)
    assert not fig.axes[-1].axison  # the unused sixth panel is hidden
    plt.close(fig)
