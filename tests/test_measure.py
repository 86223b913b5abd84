"""measure: eval mode, BatchNorm calibration, embed, two seeded views, and embedding_report's definitions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edu_contrast import augment, data, diagnostics, measure, probes
from edu_contrast.methods import build_method
from edu_contrast.utils import to_float


@pytest.fixture(scope="module")
def digits():
    train, test = data.load_dataset("digits", "train"), data.load_dataset("digits", "test")
    return train.images[:200], train.labels[:200], test.images[:64], test.labels[:64]


def _method(seed=0):
    torch.manual_seed(seed)
    return build_method("simclr", encoder="convnet", in_channels=1, width=4, feature_dim=16)


def _trained_bn(method, images):
    """Give BatchNorm non-default running statistics, as after training."""
    measure.calibrate_batchnorm(method, images)
    return method


def test_eval_mode_restores_every_nested_flag():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.BatchNorm1d(2), nn.Dropout()), nn.ReLU())
    model[1][1].eval()  # mixed: the outer modules train, one inner module does not
    before = [m.training for m in model.modules()]
    with measure.eval_mode(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == before
    with pytest.raises(RuntimeError), measure.eval_mode(model):
        raise RuntimeError  # restored after an error too
    assert [m.training for m in model.modules()] == before


def test_calibrate_batchnorm_sets_running_stats_and_nothing_else(digits):
    images = digits[0][:20]
    model = nn.Sequential(nn.Conv2d(1, 3, 1), nn.BatchNorm2d(3, momentum=0.3))
    model.eval()
    weights = {k: v.clone() for k, v in model.named_parameters()}
    measure.calibrate_batchnorm(model, images, batch_size=10)
    bn = model[1]
    with torch.no_grad():
        a, b = (model[0](to_float(images[i : i + 10], "cpu")) for i in (0, 10))  # (10, 3, 8, 8) each
    means = torch.stack([a.mean((0, 2, 3)), b.mean((0, 2, 3))])  # (2, 3): per-batch channel means
    variances = torch.stack([a.var((0, 2, 3)), b.var((0, 2, 3))])  # unbiased, as BatchNorm keeps it
    assert torch.allclose(bn.running_mean, means.mean(0), atol=1e-5)  # the average over the batches
    assert torch.allclose(bn.running_var, variances.mean(0), atol=1e-5)
    assert bn.num_batches_tracked == 2
    for key, value in model.named_parameters():
        assert torch.equal(value, weights[key]), key
    assert bn.momentum == 0.3 and not model.training and not bn.training


def test_embed_is_an_eval_mode_forward(digits):
    images = digits[2]
    method = _trained_bn(_method(), digits[0]).train()
    with torch.no_grad(), measure.eval_mode(method):
        x = to_float(images, "cpu")  # (64, 1, 8, 8)
        h, z = method.embed(x), method.project(x)
    assert torch.allclose(measure.embed(method, images, batch_size=7), h, atol=1e-6)  # batches of 7 rows
    assert torch.allclose(measure.embed(method, images, project=True), z, atol=1e-6)
    assert measure.embed(method, images).shape == (64, 16) and method.training  # train mode is back


def test_project_views_are_seeded_and_leave_the_global_generator_alone(digits):
    images, aug = digits[2], augment.batched(8, 1)
    method = _trained_bn(_method(), digits[0])
    state = torch.get_rng_state()
    z1, z2 = measure.project_views(method, images, aug, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    again = measure.project_views(method, images, aug, seed=3)
    assert torch.equal(again[0], z1) and torch.equal(again[1], z2)
    other = measure.project_views(method, images, aug, seed=4)
    assert not torch.allclose(other[0], z1) and not torch.allclose(z1, z2)  # two different views
    assert z1.shape == z2.shape == (64, method.project(to_float(images[:2], "cpu")).shape[1])


def test_report_keys(digits):
    train_x, train_y, test_x, test_y = digits
    method, aug = _trained_bn(_method(), train_x), augment.batched(8, 1)
    plain = measure.embedding_report(method, test_x, aug=aug, seed=0)
    assert tuple(plain) == measure.REPORT_KEYS
    full = measure.embedding_report(method, test_x, aug=aug, seed=0, labels=test_y, train=(train_x, train_y))
    assert set(full) == {*measure.REPORT_KEYS, "knn_accuracy", "linear_accuracy"}
    assert all(isinstance(v, float) for v in full.values())
    knn_only = measure.embedding_report(
        method, test_x, aug=aug, seed=0, labels=test_y, train=(train_x, train_y), probes=("knn",)
    )
    assert set(knn_only) == {*measure.REPORT_KEYS, "knn_accuracy"}


def test_report_values_follow_their_definitions(digits):
    train_x, train_y, test_x, test_y = digits
    method, aug = _trained_bn(_method(), train_x), augment.batched(8, 1)
    method.eval()
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(5)
        x = to_float(test_x, "cpu")  # (64, 1, 8, 8)
        z1, z2 = method.project(aug(x)), method.project(aug(x))  # two augmented views, (64, d)
        z, h = method.project(x), method.embed(x)  # clean images
        h_train = method.embed(to_float(train_x, "cpu"))  # (200, feature_dim)
    method.train()
    report = measure.embedding_report(
        method, test_x, aug=aug, seed=5, labels=test_y, train=(train_x, train_y), knn_k=10
    )
    expected = {
        "alignment": diagnostics.alignment(z1, z2),
        "uniformity": diagnostics.uniformity(z),
        "erank_z": diagnostics.effective_rank(z),
        "erank_h": diagnostics.effective_rank(h),
        "positive_cosine": diagnostics.positive_cosine(z1, z2),
        "knn_accuracy": probes.knn_probe(h_train, train_y, h, test_y, k=10),
        "linear_accuracy": probes.linear_probe(h_train, train_y, h, test_y),
    }
    assert report == pytest.approx(expected, abs=1e-5)
    assert report["erank_z"] != pytest.approx(report["erank_h"])  # z and h are different representations


def test_bad_inputs_name_the_argument(digits):
    train_x, train_y, test_x, test_y = digits
    method, aug = _method(), augment.batched(8, 1)
    with pytest.raises(TypeError, match="'images' parameter of embed must be a uint8 tensor"):
        measure.embed(method, test_x.float())
    with pytest.raises(TypeError, match="'images' parameter of project_views"):
        measure.project_views(method, test_x[0], aug, seed=0)  # (1, 8, 8): no batch axis
    with pytest.raises(
        ValueError, match="'images' parameter of measure_embeddings must be at least 2 images"
    ):
        measure.embedding_report(method, test_x[:1], aug=aug, seed=0)
    with pytest.raises(
        ValueError, match="'labels' parameter of embedding_report must be given together with train"
    ):
        measure.embedding_report(method, test_x, aug=aug, seed=0, labels=test_y)
    with pytest.raises(
        ValueError, match="'probes' parameter of embedding_report must be one of 'knn', 'linear'"
    ):
        measure.embedding_report(method, test_x, aug=aug, seed=0, probes=("svm",))
    with pytest.raises(TypeError, match="'train' parameter of embedding_report must be an ImageTensors"):
        measure.embedding_report(method, test_x, aug=aug, seed=0, labels=test_y, train=train_x)
    with pytest.raises(TypeError, match="'images' parameter of calibrate_batchnorm"):
        measure.calibrate_batchnorm(method, [train_x])
