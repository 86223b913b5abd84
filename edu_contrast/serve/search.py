"""Image search: the gallery items whose features are nearest to a query image's, best first.

    score_i = ĥ_q · ĥ_i   (cosine similarity; ĥ = h / ‖h‖, h = f(x) as /embed returns it)
    results = the k items of largest score_i, from ``retrieval.build_index`` (exact, or HNSW via faiss)

``POST /search`` (``app.py``) decodes the upload, embeds it with the server's backend, and asks a
``Searcher`` built at start-up from a gallery file (``gallery.py``) that the server has checked was
embedded by the same encoder. A query image of the gallery finds itself first, with score ≈ 1 (exactly
1 up to float32 rounding with the ``torch`` backend, which embedded the gallery; slightly less with
``onnx-int8``, whose features differ from float32 ones by the quantization error).
"""

from __future__ import annotations

import os

import numpy as np

from edu_contrast import retrieval
from edu_contrast.serve.gallery import Gallery, load_gallery

__all__ = ["Searcher", "BadQuery", "load_searcher", "parse_k", "DEFAULT_K", "MAX_K"]

DEFAULT_K, MAX_K = 10, 1000


class BadQuery(ValueError):
    """A search request the service refuses; ``status`` is the HTTP code of the answer."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


def parse_k(text: str | None, limit: int = MAX_K) -> int:
    """The form field ``k`` as an int in 1..``limit`` (``DEFAULT_K`` when absent), or ``BadQuery``."""
    if text is None or not text.strip():
        return min(DEFAULT_K, limit)
    try:
        k = int(text.strip())
    except ValueError:
        k = None
    if k is None or not 1 <= k <= limit:
        raise BadQuery(f"'k' must be a whole number from 1 to {limit}; got {text!r}.")
    return k


class Searcher:
    """The index over a gallery's embeddings, answering ``search(h, k)`` with ``{"id", "score"}`` dicts.

    ``kind`` and ``index_options`` (``m``, ``ef_construction``, ``ef_search``) go to
    ``retrieval.build_index``; the index is built here, once (HNSW over 100 000 vectors takes minutes).
    """

    def __init__(self, gallery: Gallery, *, kind: str = "exact", **index_options):
        self.gallery = gallery
        self.index = retrieval.build_index(gallery.embeddings, kind=kind, **index_options)

    def __len__(self) -> int:
        return len(self.index)

    def search(self, h: np.ndarray, k: int) -> list[dict]:
        """The ``min(k, n)`` gallery items nearest to the one query ``h`` (1, d), best first."""
        k = min(int(k), len(self.index))
        if not np.isfinite(h).all() or not np.any(h):
            raise BadQuery(
                "the image's features h are all zero or not finite, so they have no direction to compare "
                "with the gallery's; try another image."
            )
        scores, rows = self.index.search(h, k)  # (1, k) each, best first
        ids = self.gallery.ids
        return [{"id": int(ids[r]), "score": float(s)} for s, r in zip(scores[0], rows[0]) if r >= 0]

    def __repr__(self) -> str:
        return f"Searcher({self.index!r}, dataset={self.gallery.identity.get('dataset')!r})"


def load_searcher(
    path: str | os.PathLike,
    *,
    identity: dict,
    dim: int,
    kind: str = "exact",
    threads: int | None = None,
    source: str = "--checkpoint",
    redo: str = "",
    **index_options,
) -> Searcher:
    """A ``Searcher`` over the gallery file ``path``, after checking that the model of ``identity``
    (``gallery.model_identity``) with features of size ``dim`` embedded it (``GalleryError`` if not,
    naming ``source``, the flag of the model, and saying ``redo``, how to re-embed)."""
    gallery = load_gallery(path)
    gallery.check_model(identity, dim, source=source, redo=redo)
    if kind == "hnsw" and threads is not None:
        retrieval._import_faiss().omp_set_num_threads(threads)  # faiss's own OpenMP pool, like torch's
    return Searcher(gallery, kind=kind, **index_options)
