"""Notebook 06's lesson: the queue ages are MoCo's queue, the EMA weights are the unrolled update, and
evaluate_method is measure's report plus the two probes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import measure, probes
from edu_contrast.data import ImageTensors
from edu_contrast.lessons import methods as lesson
from edu_contrast.methods import MoCo, SimCLR
from edu_contrast.methods.base import ema_update


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
    ages, ptr = lesson.queue_ages(size, batch, steps)
    np.testing.assert_array_equal(ages, expected)
    assert ptr == int(moco.queue_ptr)


def test_enqueue_is_moco_enqueue_over_uneven_batches():
    """One definition of the ring buffer: lesson.enqueue leaves the queue and pointer MoCo.enqueue does."""
    g = torch.Generator().manual_seed(0)
    moco = MoCo(_Flat(), hidden_dim=2, out_dim=3, queue_size=7)
    mine, ptr = moco.queue.clone(), 0
    for n in (3, 5, 1, 7, 9, 2):  # wraps, fills exactly, and overflows (n > M)
        keys = F.normalize(torch.randn(n, 3, generator=g), dim=1)  # (n, 3) unit keys, as MoCo stores
        moco.enqueue(keys)
        ptr = lesson.enqueue(mine, ptr, keys)
        assert ptr == int(moco.queue_ptr)
        torch.testing.assert_close(mine, moco.queue)


def test_enqueue_closed_form():
    queue = torch.zeros(4, 1)
    assert lesson.enqueue(queue, 3, torch.tensor([[1.0], [2.0]])) == 1  # slots 3, 0
    assert queue[:, 0].tolist() == [2.0, 0.0, 0.0, 1.0]


def test_queue_ages_closed_forms():
    ages, ptr = lesson.queue_ages(8, 2, 3)  # three batches of two: slots 0-5 written, ages 2, 2, 1, 1, 0, 0
    assert ages.tolist() == [2, 2, 1, 1, 0, 0, -1, -1] and ptr == 6
    ages, _ = lesson.queue_ages(4096, 256, 1000)  # a full queue holds exactly the last K/N = 16 batches
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
    weights = lesson.key_encoder_weights(m, steps - 1)  # a = 0 … T − 1 ↔ θ_T … θ_1
    expected = float(np.dot(weights, thetas[1:].flip(0).numpy()))
    assert float(target.weight.detach()) == pytest.approx(expected, rel=1e-12)
    assert lesson.key_encoder_weights(0.99, 10_000).sum() == pytest.approx(1.0, abs=1e-6)
    assert lesson.key_encoder_weights(0.0, 3).tolist() == [1.0, 0.0, 0.0, 0.0]


class _TinyConv(nn.Module):
    feature_dim = 6

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )

    def forward(self, x):
        return self.net(x)


def _labelled(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    return ImageTensors(images, torch.arange(n) % 3, list("abc"))


def test_evaluate_method_is_the_measure_report_and_the_probes():
    torch.manual_seed(0)
    method = SimCLR(_TinyConv(), hidden_dim=16, out_dim=8)
    train, test = _labelled(60), _labelled(30, seed=1)
    state = torch.get_rng_state()
    row = lesson.evaluate_method(method, train, test, per_class=5, seed=3)
    assert torch.equal(torch.get_rng_state(), state) and method.training  # RNG and mode left alone
    report = measure.embedding_report(
        method, test.images, aug=None, seed=3, labels=test.labels, train=train, probes=("linear",)
    )
    assert set(row) == set(report) | {"few_label_accuracy"}
    assert all(row[k] == pytest.approx(v, rel=1e-6) for k, v in report.items())
    h_train, h_test = measure.embed(method, train.images), measure.embed(method, test.images)
    expected = probes.few_label_probe(h_train, train.labels, h_test, test.labels, per_class=5, seed=3)
    assert row["few_label_accuracy"] == pytest.approx(expected)


def test_collapsed_embeddings_show_in_the_row():
    """A method whose h and z are constant: positive cosine 1, alignment 0, effective ranks 1."""

    class Constant(nn.Module):
        feature_dim = 3

        def forward(self, x):
            return F.normalize(torch.ones(x.shape[0], 3), dim=1) + 0 * x.flatten(1)[:, :3]

    method = SimCLR(Constant(), hidden_dim=4, out_dim=4)
    row = lesson.evaluate_method(method, _labelled(30), _labelled(20, seed=1), per_class=2)
    assert row["positive_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert row["alignment"] == pytest.approx(0.0, abs=1e-5)
    assert row["erank_h"] == pytest.approx(1.0, abs=1e-5) and row["erank_z"] == pytest.approx(1.0, abs=1e-4)
    assert row["uniformity"] == pytest.approx(0.0, abs=1e-5)  # every pair at distance 0: log 1


def test_scale_and_resized_subset():
    """Lab: Fashion-MNIST area-resized to 16×16 (the mean of each 28/16 cell), subsets drawn by the seed."""
    assert lesson.scale("quick")["dataset"] == "digits" and lesson.scale("lab")["image"] == 16
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        lesson.scale("slow")
    full = lesson.resized_subset("fashion-mnist", "test", None, 28)
    small = lesson.resized_subset("fashion-mnist", "test", None, 14)
    assert small.images.shape == (10_000, 1, 14, 14) and small.images.dtype == torch.uint8
    pooled = F.avg_pool2d(full.images[:5].float(), 2).round()  # 28 → 14 is an exact 2×2 mean
    torch.testing.assert_close(small.images[:5].float(), pooled, atol=1.0, rtol=0)
    train, test = lesson.load_data("lab", seed=1)
    assert (len(train), len(test)) == (4000, 1000) and train.images.shape[-1] == 16
    assert not torch.equal(lesson.load_data("lab", seed=2)[0].images, train.images)  # another draw
