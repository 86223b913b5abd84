"""edu_contrast.retrieval: exact search against a loop, HNSW recall against exact, measures, bad inputs."""

import math
import sys

import numpy as np
import pytest
import torch

from edu_contrast.retrieval import (
    build_index,
    memory_per_vector,
    queries_per_second,
    recall_at_k,
    retrieval_recall,
)


def gaussian(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def brute_force(gallery, queries, k):
    """Cosine of each query to each item with Python loops, sorted best first: (scores, ids)."""

    def unit(row):
        norm = math.sqrt(sum(v * v for v in row))
        return [v / norm for v in row]

    items = [unit(row) for row in gallery.tolist()]
    all_scores, all_ids = [], []
    for query in queries.tolist():
        q = unit(query)
        cosines = [sum(a * b for a, b in zip(q, item)) for item in items]
        best = sorted(range(len(items)), key=lambda i: -cosines[i])[:k]
        all_scores.append([cosines[i] for i in best])
        all_ids.append(best)
    return np.array(all_scores), np.array(all_ids)


# --- exact search ---------------------------------------------------------------------------------


def test_exact_search_equals_a_brute_force_loop():
    gallery, queries = gaussian(60, 8, seed=0) * 3.0, gaussian(7, 8, seed=1)
    index = build_index(gallery)
    scores, ids = index.search(queries, 5)
    expected_scores, expected_ids = brute_force(gallery, queries, 5)
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (7, 5)
    np.testing.assert_array_equal(ids, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    assert (np.diff(scores, axis=1) <= 0).all()  # best first
    assert index.kind == "exact" and index.dim == 8 and len(index) == 60 and index.ef_search is None


def test_tensors_arrays_row_norms_and_a_single_query_give_the_same_answer():
    gallery, queries = gaussian(40, 6, seed=2), gaussian(3, 6, seed=3)
    scores, ids = build_index(gallery).search(queries, 4)
    rescaled = gallery * np.random.default_rng(4).uniform(0.1, 10, size=(40, 1)).astype(np.float32)
    from_torch = build_index(torch.from_numpy(rescaled).double())
    np.testing.assert_array_equal(from_torch.search(torch.from_numpy(queries), 4)[1], ids)
    one_scores, one_ids = build_index(gallery).search(queries[0], 4)  # (dim,) is one query
    assert one_ids.shape == (1, 4)
    np.testing.assert_array_equal(one_ids[0], ids[0])
    np.testing.assert_allclose(one_scores[0], scores[0], atol=1e-6)


def test_an_item_finds_itself_first_with_score_1():
    gallery = gaussian(30, 5, seed=5)
    scores, ids = build_index(gallery).search(gallery, 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(30))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-6)


# --- HNSW -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hnsw_case():
    pytest.importorskip("faiss", reason='HNSW needs faiss: pip install "edu-contrast[retrieval]"')
    gallery, queries = gaussian(10_000, 64, seed=6), gaussian(1_000, 64, seed=7)
    exact_ids = build_index(gallery).search(queries, 10)[1]
    return gallery, queries, exact_ids, build_index(gallery, kind="hnsw")


def test_hnsw_recall_at_10_is_at_least_0_95_at_the_default_ef_search(hnsw_case):
    gallery, queries, exact_ids, index = hnsw_case
    assert index.kind == "hnsw" and index.dim == 64 and len(index) == 10_000 and index.ef_search == 64
    scores, ids = index.search(queries, 10)
    recall = recall_at_k(ids, exact_ids, 10)
    print(f"HNSW (M=32, efConstruction=200, efSearch=64) recall@10 = {recall:.4f} on 10 000 random 64-d")
    assert recall >= 0.95
    # the scores HNSW returns are the true cosines of the ids it returns, best first
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    true_scores = np.einsum("qd,qkd->qk", queries / np.linalg.norm(queries, axis=1, keepdims=True), unit[ids])
    np.testing.assert_allclose(scores, true_scores, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_a_smaller_ef_search_lowers_recall(hnsw_case):
    _, queries, exact_ids, index = hnsw_case
    recalls = {}
    for ef in (8, 64):
        index.ef_search = ef
        recalls[ef] = recall_at_k(index.search(queries, 10)[1], exact_ids, 10)
    index.ef_search = 64
    print(f"recall@10 at efSearch 8 / 64: {recalls[8]:.4f} / {recalls[64]:.4f}")
    assert recalls[8] < recalls[64] - 0.05


def test_memory_per_vector_and_queries_per_second(hnsw_case):
    gallery, queries, _, index = hnsw_case
    exact = build_index(gallery)
    assert memory_per_vector(exact) == 4 * 64  # float32 rows
    hnsw_bytes = memory_per_vector(index)  # vectors + about 2M int32 links on layer 0
    print(f"bytes per vector: exact {memory_per_vector(exact):.0f}, HNSW {hnsw_bytes:.0f}")
    assert 4 * 64 + 4 * 32 < hnsw_bytes < 4 * 64 + 16 * 32 + 64
    qps = queries_per_second(index, queries[:200], 10, repeats=2)
    assert math.isfinite(qps) and qps > 0


# --- recall measures --------------------------------------------------------------------------------


def test_recall_at_k_closed_cases():
    true = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    assert recall_at_k(true, true, 4) == 1.0
    assert recall_at_k(true[:, ::-1], true, 4) == 1.0  # order inside the top k does not matter
    assert recall_at_k(true + 10, true, 4) == 0.0
    half = np.array([[0, 1, 9, 9], [4, 8, 8, 7]])  # 2 of 4 found, then 2 of 4
    assert recall_at_k(half, true, 4) == 0.5
    assert recall_at_k(half, true, 2) == 0.75  # first two columns: {0,1} vs {0,1}; {4,8} vs {4,5}
    assert recall_at_k(torch.from_numpy(half), true, 1) == 1.0


def test_retrieval_recall_from_scores_and_from_ids():
    scores = torch.eye(5) + 0.01 * torch.arange(5.0)  # each query's own item scores highest
    targets = torch.arange(5)
    assert retrieval_recall(scores, targets, 1) == 1.0
    assert retrieval_recall(scores, targets.roll(1), 1) == 0.0
    assert retrieval_recall(scores, targets.roll(1), 5) == 1.0
    ids = np.array([[3, 1, 2], [0, 2, 4]])
    assert retrieval_recall(ids, [1, 4], 1) == 0.0
    assert retrieval_recall(ids, [1, 4], 2) == 0.5
    assert retrieval_recall(ids, [1, 4], 3) == 1.0


def test_retrieval_recall_of_constant_scores_is_chance():
    # a collapsed model scores everything alike: ties broken at random give k/n, not 1
    assert retrieval_recall(np.zeros((4, 10)), np.arange(4), 3) == pytest.approx(0.3)
    tied = np.array([[1.0, 1.0, 0.0, 2.0]])  # one item above, the target tied with one other
    assert retrieval_recall(tied, [0], 2) == pytest.approx(0.5)


# --- without faiss ----------------------------------------------------------------------------------


def test_without_faiss_exact_works_and_hnsw_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now raises ImportError
    gallery = gaussian(20, 4, seed=8)
    assert build_index(gallery).search(gallery[:2], 3)[1][:, 0].tolist() == [0, 1]
    with pytest.raises(ImportError, match=r'pip install "edu-contrast\[retrieval\]"') as error:
        build_index(gallery, kind="hnsw")
    assert "\n" not in str(error.value)


# --- bad inputs -------------------------------------------------------------------------------------


def test_bad_search_arguments():
    index = build_index(gaussian(10, 4, seed=9))
    query = gaussian(2, 4, seed=10)
    for k in (0, -1):
        with pytest.raises(ValueError, match=r"The 'k' parameter of Index.search must be an int >= 1"):
            index.search(query, k)
    with pytest.raises(ValueError, match=r"'k' parameter of Index.search must be an int in \[1, n=10\]"):
        index.search(query, 11)
    with pytest.raises(TypeError, match="'k' parameter of Index.search"):
        index.search(query, 2.0)
    with pytest.raises(
        ValueError, match=r"'queries' parameter of Index.search must be of shape \(n, dim=4\)"
    ):
        index.search(gaussian(2, 5, seed=11), 3)
    bad = query.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="'queries' parameter of Index.search must be finite"):
        index.search(bad, 3)
    with pytest.raises(ValueError, match="'ef_search' parameter of Index must be set on a kind='hnsw'"):
        index.ef_search = 32


def test_bad_index_arguments():
    with pytest.raises(ValueError, match="'kind' parameter of build_index must be one of 'exact', 'hnsw'"):
        build_index(gaussian(5, 3, seed=12), kind="ivf")
    with pytest.raises(ValueError, match="'vectors' parameter of build_index must be finite"):
        build_index(np.full((3, 2), np.inf, dtype=np.float32))
    with pytest.raises(ValueError, match="'vectors' parameter of build_index must be made of nonzero rows"):
        build_index(np.zeros((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"'vectors' parameter of build_index must be of shape \(n, dim\)"):
        build_index(np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="'vectors' parameter of build_index must be a torch.Tensor or numpy"):
        build_index([[1.0, 0.0]])
    with pytest.raises(ValueError, match="'m' parameter of build_index must be an int >= 2"):
        build_index(gaussian(5, 3, seed=13), m=1)


def test_bad_recall_arguments():
    ids = np.array([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="'true_ids' parameter of recall_at_k must be one row per query"):
        recall_at_k(ids, ids[:1], 1)
    with pytest.raises(ValueError, match="'k' parameter of recall_at_k must be <= the 2 columns"):
        recall_at_k(ids, ids, 3)
    with pytest.raises(ValueError, match="'found_ids' parameter of recall_at_k must be a 2-D integer"):
        recall_at_k(ids.astype(float), ids, 1)
    with pytest.raises(ValueError, match="'targets' parameter of retrieval_recall must be a 1-D integer"):
        retrieval_recall(ids, [0], 1)
    with pytest.raises(ValueError, match=r"'targets' parameter of retrieval_recall must be ids in \[0, 2\)"):
        retrieval_recall(np.zeros((2, 2)), [0, 5], 1)
    with pytest.raises(ValueError, match="'scores_or_ids' parameter of retrieval_recall must be finite"):
        retrieval_recall(np.full((2, 2), np.nan), [0, 1], 1)
