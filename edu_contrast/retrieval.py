"""Nearest-neighbour search over embeddings: an exact index, an approximate one (HNSW), and their measures.

Every vector is L2-normalised when it enters, so the score of query q against gallery item i is the
cosine similarity s(q, i) = q̂ · x̂_i, and the k nearest neighbours are the k largest scores.

* ``kind="exact"``: one matrix product q̂ X̂ᵀ and a top-k, in torch (no faiss needed; the same
  result whether faiss is installed or not). Cost O(n·d) per query, memory 4·d bytes per vector.
* ``kind="hnsw"``: faiss's ``IndexHNSWFlat`` with the inner-product metric, a Hierarchical Navigable
  Small World graph (Malkov & Yashunin 2018): each vector is linked to about ``m`` neighbours per
  layer, and a query walks the graph greedily, keeping the ``ef_search`` best candidates. Cost
  roughly O(log n) per query; the answer may miss a true neighbour, which ``recall_at_k`` measures
  against the exact index.

faiss is an optional extra: ``pip install "edu-contrast[retrieval]"`` (or ``pip install faiss-cpu``).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from edu_contrast._validation import check_choice, check_int, fail

KINDS = ("exact", "hnsw")
FAISS_HINT = 'kind="hnsw" needs faiss: pip install "edu-contrast[retrieval]" (or pip install faiss-cpu)'
_EXACT_BLOCK_BYTES = 64 * 2**20  # exact search scores queries in blocks of at most 64 MiB of scores


def _import_faiss():
    """faiss, imported only when an HNSW index is asked for; one actionable line when it is missing."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(FAISS_HINT) from error
    return faiss


def _unit_rows(x, name: str, where: str, dim: int | None = None) -> np.ndarray:
    """A (n, d) float32 C-contiguous array of unit rows from a tensor or array (a (d,) vector is one row)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    if not isinstance(x, np.ndarray):
        fail(name, where, "a torch.Tensor or numpy array of shape (n, dim)", f"{type(x).__name__}", TypeError)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        fail(name, where, "a real-valued array", f"dtype {x.dtype}", TypeError)
    if x.ndim == 1:
        x = x[None, :]  # (d,) → (1, d): one vector
    expected_dim = "dim" if dim is None else f"dim={dim}"
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1 or (dim is not None and x.shape[1] != dim):
        fail(name, where, f"of shape (n, {expected_dim}) with n >= 1", f"shape {x.shape}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        fail(name, where, "finite (no NaN or inf)", f"{int((~np.isfinite(x)).sum())} non-finite values")
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # (n, 1)
    if (norms == 0).any():
        rows = np.flatnonzero(norms[:, 0] == 0)[:3].tolist()
        fail(name, where, "made of nonzero rows (a zero vector has no direction)", f"zero rows {rows}")
    return np.ascontiguousarray(x / norms)  # (n, d), unit rows


class Index:
    """A searchable set of n unit vectors of dimension ``dim``; build it with :func:`build_index`."""

    def __init__(self, vectors, *, kind="exact", m=32, ef_construction=200, ef_search=64):
        where = "build_index"
        self.kind = check_choice(kind, "kind", where, KINDS)
        m = check_int(m, "m", where, minimum=2)
        ef_construction = check_int(ef_construction, "ef_construction", where)
        ef_search = check_int(ef_search, "ef_search", where)
        if kind == "hnsw":
            faiss = _import_faiss()  # before the copy below, so a missing faiss fails fast
        x = _unit_rows(vectors, "vectors", where)  # (n, d)
        self.dim = x.shape[1]
        self._n = x.shape[0]
        if kind == "exact":
            self._vectors = torch.from_numpy(x)  # (n, d), kept as float32
            self._faiss = None
        else:
            self._faiss = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
            self._faiss.hnsw.efConstruction = ef_construction
            self._faiss.add(x)
            self._faiss.hnsw.efSearch = ef_search

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        extra = f", ef_search={self.ef_search}" if self.kind == "hnsw" else ""
        return f"Index(kind={self.kind!r}, n={self._n}, dim={self.dim}{extra})"

    @property
    def ef_search(self) -> int | None:
        """HNSW's efSearch: candidates kept per query (more: better recall, fewer queries/s); None: exact."""
        return None if self._faiss is None else int(self._faiss.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        if self._faiss is None:
            fail("ef_search", "Index", "set on a kind='hnsw' index only", f"kind={self.kind!r}")
        self._faiss.hnsw.efSearch = check_int(value, "ef_search", "Index")

    def search(self, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k gallery items with the largest cosine similarity to each query, best first.

        Args:
            queries: shape ``(q, dim)`` (or ``(dim,)`` for one query), a tensor or array; normalised here.
            k: how many neighbours, 1 ≤ k ≤ n.

        Returns:
            ``(scores, ids)``: float32 ``(q, k)`` cosine similarities, descending along each row, and
            int64 ``(q, k)`` row indices into the indexed ``vectors``. An HNSW index that reaches
            fewer than k items (possible only on tiny or degenerate graphs) pads with id −1, score −inf.
        """
        where = "Index.search"
        k = check_int(k, "k", where)
        if k > self._n:
            fail("k", where, f"an int in [1, n={self._n}] (the number of indexed vectors)", k)
        q = _unit_rows(queries, "queries", where, dim=self.dim)  # (q, d)
        if self._faiss is not None:
            scores, ids = self._faiss.search(q, k)  # (q, k) each
            return scores.astype(np.float32), ids.astype(np.int64)
        return self._exact_search(torch.from_numpy(q), k)

    def _exact_search(self, q: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        block = max(1, _EXACT_BLOCK_BYTES // (4 * self._n))  # queries per block of scores
        scores, ids = [], []
        for start in range(0, q.shape[0], block):
            s = q[start : start + block] @ self._vectors.T  # (b, n): cosine of each query to each item
            top = torch.topk(s, k, dim=1, largest=True, sorted=True)  # (b, k) values and indices
            scores.append(top.values)
            ids.append(top.indices)
        return torch.cat(scores).numpy(), torch.cat(ids).numpy().astype(np.int64)


def build_index(vectors, *, kind="exact", m=32, ef_construction=200, ef_search=64) -> Index:
    """Index n vectors for cosine-similarity search.

    Args:
        vectors: the gallery, shape ``(n, dim)``, a torch tensor or numpy array; rows are
            L2-normalised here (cosine similarity = inner product); row i gets id i.
        kind: ``"exact"`` (torch matrix product, always available) or ``"hnsw"`` (faiss
            ``IndexHNSWFlat``, ``METRIC_INNER_PRODUCT``; needs the ``retrieval`` extra).
        m: HNSW links per vector and layer (faiss's M): more → better recall, more memory.
        ef_construction: candidates kept while inserting (faiss's efConstruction): better graph, slower build.
        ef_search: candidates kept while querying (faiss's efSearch); settable later as ``index.ef_search``.

    Returns:
        An :class:`Index` with ``search(queries, k)``, ``kind``, ``dim`` and ``len()``.
    """
    return Index(vectors, kind=kind, m=m, ef_construction=ef_construction, ef_search=ef_search)


def _as_int_matrix(x, name: str, where: str) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        fail(name, where, "a 2-D integer array of ids, shape (q, k)", f"dtype {x.dtype}, shape {x.shape}")
    return x


def _check_k(k, columns: int, name: str, where: str) -> int:
    k = check_int(k, "k", where)
    if k > columns:
        fail("k", where, f"<= the {columns} columns of '{name}'", k)
    return k


def recall_at_k(found_ids, true_ids, k: int) -> float:
    """Recall@k of an approximate search against the exact one: mean over queries of |found ∩ true| / k.

    Args:
        found_ids: ids from the approximate index, shape ``(q, ≥k)``, best first.
        true_ids: ids from the exact index for the same queries, shape ``(q, ≥k)``, best first.
        k: compare the first k columns of each.

    Returns:
        A float in [0, 1]; 1.0 when the approximate index found every true top-k neighbour.
    """
    where = "recall_at_k"
    found, true = _as_int_matrix(found_ids, "found_ids", where), _as_int_matrix(true_ids, "true_ids", where)
    if found.shape[0] != true.shape[0]:
        fail(
            "true_ids",
            where,
            f"one row per query like 'found_ids' ({found.shape[0]})",
            f"{true.shape[0]} rows",
        )
    k = _check_k(k, min(found.shape[1], true.shape[1]), "found_ids' and 'true_ids", where)
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) for f, t in zip(found, true)]
    return float(np.mean(hits)) / k


def retrieval_recall(scores_or_ids, targets, k: int) -> float:
    """Recall@k of retrieval with one correct item per query: the fraction whose target is in the top k.

    For image→text retrieval with CLIP, ``scores_or_ids = image @ text.T`` and ``targets = arange(N)``.

    Args:
        scores_or_ids: either scores, a float ``(q, n)`` matrix of similarities of every query to every
            gallery item (higher is better), or ids, an integer ``(q, ≥k)`` array ranked best first
            (``Index.search``'s second output).
        targets: the id of the correct gallery item for each query, shape ``(q,)``.
        k: how many of the best-ranked items count.

    Returns:
        A float in [0, 1] (chance is k / n for random scores). Tied scores are broken at random, in
        expectation, so constant scores give k / n too.
    """
    where = "retrieval_recall"
    x = scores_or_ids
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (x.double() if x.is_floating_point() else x).numpy()  # bfloat16 has no numpy dtype
    x = np.asarray(x)
    if x.ndim != 2 or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        fail("scores_or_ids", where, "a 2-D float (scores) or int (ids) array", f"{x.dtype}, shape {x.shape}")
    t = targets.detach().cpu().numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    if t.shape != (x.shape[0],) or not np.issubdtype(t.dtype, np.integer):
        fail(
            "targets",
            where,
            f"a 1-D integer array of {x.shape[0]} ids (one per query)",
            f"{t.dtype}, shape {t.shape}",
        )
    k = _check_k(k, x.shape[1], "scores_or_ids", where)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            fail("scores_or_ids", where, "finite scores", "NaN or inf")
        if t.min() < 0 or t.max() >= x.shape[1]:
            fail(
                "targets",
                where,
                f"ids in [0, {x.shape[1]}) (columns of the scores)",
                f"ids {t.min()}..{t.max()}",
            )
        # Ties are broken at random, in expectation: with h items scored higher and e others tied,
        # the target's position is uniform over h+1 .. h+e+1, so P(in top k) = clip((k − h)/(e + 1), 0, 1).
        # All-equal scores (a collapsed model) thus give chance, k/n, not 1.
        target_scores = x[np.arange(len(t)), t][:, None]  # (q, 1)
        higher = (x > target_scores).sum(axis=1)  # (q,)
        tied = (x == target_scores).sum(axis=1) - 1  # (q,), without the target itself
        return float(np.mean(np.clip((k - higher) / (tied + 1), 0.0, 1.0)))
    return float(np.mean((x[:, :k] == t[:, None]).any(axis=1)))


def queries_per_second(index: Index, queries, k: int, *, repeats: int = 3) -> float:
    """Measured throughput: len(queries) / (median wall-clock seconds of one ``index.search(queries, k)``).

    One untimed search runs first (warm caches, thread pools). Wall clock on the current machine and
    thread settings: compare numbers measured in one session only.
    """
    repeats = check_int(repeats, "repeats", "queries_per_second")
    n_queries = _unit_rows(queries, "queries", "queries_per_second", dim=index.dim).shape[0]
    index.search(queries, k)  # warm-up, and the argument checks
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        index.search(queries, k)
        times.append(time.perf_counter() - start)
    return n_queries / float(np.median(times))


def memory_per_vector(index: Index) -> float:
    """Bytes the index holds per vector: 4·dim for exact (float32 rows); for HNSW the size of the
    serialised faiss index (vectors + graph links) divided by n, about 4·dim + 8·m (2m int32 links
    on layer 0).
    """
    if index._faiss is None:
        return float(index._vectors.element_size() * index.dim)
    faiss = _import_faiss()
    return faiss.serialize_index(index._faiss).nbytes / len(index)
