"""lessons.retrieval: precision@k by label against a loop oracle, the checks' functions failing on a broken
input, the ef sweep and growth rows, and the IVF-PQ arithmetic in closed form."""

import numpy as np
import pytest
import torch

from edu_contrast import data, methods, train
from edu_contrast.lessons import retrieval as lesson

pytest.importorskip("faiss")


def precision_oracle(vectors, labels, k):
    """Slow loop: for each item, sort the others by cosine, count the first k sharing its label."""
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(x)):
        others = [j for j in range(len(x)) if j != i]
        order = sorted(others, key=lambda j: -float(x[i] @ x[j]))[:k]
        total += sum(labels[j] == labels[i] for j in order) / k
    return total / len(x)


def clustered(n=120, classes=4, spread=0.8, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(classes, size=n)
    centres = rng.standard_normal((classes, 16))
    return (centres[labels] + spread * rng.standard_normal((n, 16))).astype(np.float32), labels


def test_label_precision_is_the_loop_oracle_and_leaves_the_query_out():
    vectors, labels = clustered()
    for k in (1, 5):
        assert lesson.label_precision(vectors, labels, k=k) == pytest.approx(
            precision_oracle(vectors, labels, k)
        )
    # Two copies of one point, each of its own class: the query itself is not its own neighbour.
    pair = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    assert lesson.label_precision(pair, np.array([0, 1, 2, 3]), k=1) == 0.0
    with pytest.raises(ValueError, match="labels"):
        lesson.label_precision(vectors, labels[:-1])


def test_the_precision_check_fails_when_the_trained_encoder_is_no_better():
    vectors, labels = clustered(spread=0.3)
    noise = np.random.default_rng(1).standard_normal(vectors.shape).astype(np.float32)
    good = lesson.precision_gap(vectors, noise, labels, k=5)
    assert good["trained"] > 0.9 and good["random"] < 0.5 and good["gap"] > 0.4
    broken = lesson.precision_gap(noise, noise, labels, k=5)  # the "trained" encoder is the random one
    assert broken["gap"] == 0.0 and not broken["gap"] > 0.05


def test_ef_sweep_reports_recall_and_speed_per_ef_and_the_recall_check_fails_on_a_flat_sweep():
    vectors, queries = lesson.unit_vectors(3000, 32, seed=0), lesson.unit_vectors(100, 32, seed=1)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sweep = lesson.ef_sweep(vectors, queries, ef_search=(4, 128), repeats=1)
    low, high = sweep["hnsw"]
    assert (low["ef_search"], high["ef_search"]) == (4, 128) and high["recall"] > 0.95 > low["recall"]
    assert sweep["exact"]["bytes"] == 4 * 32 and sweep["bytes"] > 4 * 32 and sweep["n"] == 3000
    assert (
        lesson.recall_gain(sweep) == pytest.approx(high["recall"] - low["recall"])
        and min(low["qps"], high["qps"], sweep["exact"]["qps"]) > 0
    )
    flat = {"hnsw": [{"ef_search": 8, "recall": 1.0}, {"ef_search": 64, "recall": 1.0}]}
    assert lesson.recall_gain(flat) == 0.0


def test_growth_has_a_row_per_size():
    rows = lesson.growth((500, 1500), dim=16, queries=50)
    assert [r["n"] for r in rows] == [500, 1500]
    assert all(0 < r["recall"] <= 1 and r["build_s"] > 0 and r["exact_qps"] > 0 for r in rows)


def test_memory_arithmetic_in_closed_form():
    assert lesson.memory_bytes(10**9, 128) == 512e9  # float32 flat: n·4·d
    assert lesson.memory_bytes(10**9, 128, pq_m=16) == 24e9  # 16 one-byte codes + an 8-byte id
    assert lesson.memory_bytes(10**6, 128, pq_m=8, nbits=4, id_bytes=0) == 4e6


def test_a_mode_that_does_not_exist_is_named():
    with pytest.raises(ValueError, match="mode"):
        lesson.scene_search(mode="fast")


@pytest.mark.slow
def test_search_over_http_runs_the_commands_and_a_gallery_image_finds_itself(tmp_path):
    """A one-epoch digits run, then the lesson's gallery + serve + one POST /search over 127.0.0.1."""
    pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    torch.manual_seed(0)
    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=4, feature_dim=16)
    train.fit(
        method, data.load_dataset("digits", "train"), epochs=1, batch_size=256, samples_per_epoch=256,
        out_dir=tmp_path / "run", progress=False, device="cpu", knn_train_size=128, knn_test_size=32,
        config={"dataset": "digits"},
    )  # fmt: skip
    test = data.load_dataset("digits", "test")
    answer = lesson.search_over_http(tmp_path / "run", tmp_path / "gallery.npz", test.images[3], k=4)
    assert answer["commands"][0].startswith("edu_contrast gallery --checkpoint")
    assert answer["commands"][1].startswith("edu_contrast serve --checkpoint")
    results = answer["results"]
    assert len(results) == 4 and results[0]["id"] == 3 and results[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
