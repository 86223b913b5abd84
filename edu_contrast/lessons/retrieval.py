r"""Notebook 16: nearest-neighbour retrieval — embed a gallery, search it exactly and with HNSW, serve it.

    s(q, i) = ĥ_q · ĥ_i,  ĥ = h / ‖h‖                  (cosine score of query q against gallery item i)
    recall@k = |N_k^approx(q) ∩ N_k^exact(q)| / k         (an approximate index against the exact one)
    precision@k = |{j ∈ N_k(q) : y_j = y_q}| / k           (labels of q's k neighbours, q itself excluded)

The experiments: a small SimCLR on Fashion-MNIST against a BatchNorm-calibrated random encoder
(``train_encoder``, ``random_encoder``, ``label_precision``); exact vs HNSW over efSearch (``ef_sweep``,
Malkov & Yashunin 2018); the gallery's growth on synthetic vectors (``growth``) and the memory arithmetic
of IVF-PQ for a billion vectors (``memory_bytes``, Jégou et al. 2011); the CLIP towers'
text→image search on the scene set (``scene_search``); the service's ``gallery`` + ``serve`` commands and one
``POST /search`` over HTTP (``search_over_http``).
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edu_contrast import data, measure, methods, models, retrieval, train
from edu_contrast._validation import check_choice, check_int, fail

__all__ = [
    "SETTINGS",
    "train_encoder",
    "random_encoder",
    "embed_gallery",
    "label_precision",
    "precision_gap",
    "recall_gain",
    "unit_vectors",
    "ef_sweep",
    "growth",
    "memory_bytes",
    "scene_search",
    "search_over_http",
    "recall_at_k",
]

recall_at_k = retrieval.recall_at_k  # the exercise's reference (exercises.check_recall_at_k)

# quick: the tests' CPU budget (no HTTP: starting the server takes ~20 s on 2 busy cores); lab: the whole
# Fashion-MNIST test set as the gallery, <= 10 min on 2 cores; full: all of Fashion-MNIST, a million vectors.
SETTINGS = {
    "quick": {"train_size": 1500, "gallery_size": 1000, "epochs": 2, "width": 8, "feature_dim": 64,
              "queries": 200, "synthetic": 2000, "growth": (1000, 3000), "scenes": 1000, "clip_epochs": 4,
              "http": False},
    "lab": {"train_size": 10000, "gallery_size": None, "epochs": 6, "width": 16, "feature_dim": 128,
            "queries": 1000, "synthetic": 10_000, "growth": (10_000, 30_000, 100_000), "scenes": 3000,
            "clip_epochs": 6, "http": True},
    "full": {"train_size": None, "gallery_size": None, "epochs": 20, "width": 32, "feature_dim": 128,
             "queries": 1000, "synthetic": 10_000, "growth": (10_000, 100_000, 1_000_000), "scenes": 10000,
             "clip_epochs": 10, "http": True},
}  # fmt: skip
EF_SEARCH = (8, 16, 32, 64, 128)
HNSW = {"m": 32, "ef_construction": 200}  # faiss's M and efConstruction, as the service's default index


def _settings(mode: str, where: str) -> dict:
    return SETTINGS[check_choice(mode, "mode", where, tuple(SETTINGS))]


def _data(mode: str, seed: int):
    s = _settings(mode, "train_encoder")
    g = torch.Generator().manual_seed(seed)
    splits = [data.load_dataset("fashion-mnist", split) for split in ("train", "test")]
    sizes = (s["train_size"], s["gallery_size"])
    return tuple(d if n is None else d.subset(n, g) for d, n in zip(splits, sizes))


def _method(s: dict, channels: int, seed: int):
    torch.manual_seed(seed)
    return methods.build_method(
        "simclr", encoder="convnet", in_channels=channels, width=s["width"], feature_dim=s["feature_dim"]
    )


def train_encoder(out_dir: str | Path, *, mode: str = "quick", seed: int = 0):
    """SimCLR with a SmallConvNet on Fashion-MNIST, checkpointed in ``out_dir`` (a run folder the
    ``gallery`` and ``serve`` commands read). Returns ``(method, train_data, gallery_data)``."""
    s = _settings(mode, "train_encoder")
    train_data, gallery_data = _data(mode, seed)
    method = _method(s, train_data.channels, seed)
    train.fit(
        method, train_data, epochs=s["epochs"], batch_size=256, seed=seed, out_dir=out_dir, overwrite=True,
        progress=False, device="cpu", knn_train_size=256, knn_test_size=64,
        config={"dataset": "fashion-mnist"},
    )  # fmt: skip
    return method.eval(), train_data, gallery_data


def random_encoder(train_data, *, mode: str = "quick", seed: int = 0):
    """The baseline: the same architecture untrained (same initial weights as ``train_encoder``), its
    BatchNorm statistics calibrated on the training images (``measure.calibrate_batchnorm``)."""
    method = _method(_settings(mode, "random_encoder"), train_data.channels, seed)
    measure.calibrate_batchnorm(method, train_data.images)
    return method.eval()


def embed_gallery(method, images) -> np.ndarray:
    """h = f(x) of uint8 ``images``, float32 ``(n, feature_dim)`` (``measure.embed``, what /embed returns)."""
    return measure.embed(method, images).numpy()


def label_precision(vectors, labels, *, k: int = 10, queries: int | None = None, seed: int = 0) -> float:
    """precision@k by label: each query is a gallery item, its k nearest *other* items (exact cosine
    search) vote with their labels; the mean fraction that share the query's label. Chance is
    Σ_c p_c² for class frequencies p_c (0.1 on balanced Fashion-MNIST)."""
    where = "label_precision"
    k = check_int(k, "k", where)
    labels = np.asarray(labels)
    if labels.shape != (len(vectors),):
        fail("labels", where, f"one label per vector ({len(vectors)})", f"shape {labels.shape}")
    index = retrieval.build_index(vectors, kind="exact")
    n = len(index)
    rows = np.arange(n) if queries is None else np.random.default_rng(seed).permutation(n)[:queries]
    _, ids = index.search(np.asarray(vectors)[rows], k + 1)  # (q, k + 1): the query itself among them
    others = [r[r != i][:k] for r, i in zip(ids, rows)]  # drop the query's own row (or the last)
    return float(np.mean([np.mean(labels[o] == labels[i]) for o, i in zip(others, rows)]))


def precision_gap(
    trained_vectors, random_vectors, labels, *, k: int = 10, queries: int | None = None
) -> dict:
    """The check of section 2: precision@k by label of the trained encoder's h and of the random one's on
    the same gallery and queries, and ``gap`` = trained − random (what the notebook asserts > a margin)."""
    trained = label_precision(trained_vectors, labels, k=k, queries=queries)
    random = label_precision(random_vectors, labels, k=k, queries=queries)
    return {"trained": trained, "random": random, "gap": trained - random}


def recall_gain(sweep: dict) -> float:
    """recall@k at the largest efSearch of an ``ef_sweep`` minus recall@k at the smallest: what the
    extra candidates bought (0 when the smallest efSearch already finds every neighbour)."""
    rows = sorted(sweep["hnsw"], key=lambda r: r["ef_search"])
    return rows[-1]["recall"] - rows[0]["recall"]


def ef_sweep(vectors, queries, *, ef_search=EF_SEARCH, k: int = 10, repeats: int = 3) -> dict:
    """Exact vs HNSW on one gallery: per efSearch, recall@k against the exact index and queries/s.

    Returns ``{"exact": {"qps", "bytes"}, "hnsw": [{"ef_search", "recall", "qps"}, ...], "bytes",
    "build_s", "n", "dim"}`` (bytes per vector of each index, ``retrieval.memory_per_vector``)."""
    exact = retrieval.build_index(vectors, kind="exact")
    _, true_ids = exact.search(queries, k)  # (q, k)
    start = time.perf_counter()
    hnsw = retrieval.build_index(vectors, kind="hnsw", **HNSW)
    build_s = time.perf_counter() - start
    rows = []
    for ef in ef_search:
        hnsw.ef_search = ef
        _, ids = hnsw.search(queries, k)
        qps = retrieval.queries_per_second(hnsw, queries, k, repeats=repeats)
        rows.append({"ef_search": ef, "recall": retrieval.recall_at_k(ids, true_ids, k), "qps": qps})
    return {
        "exact": {"qps": retrieval.queries_per_second(exact, queries, k, repeats=repeats),
                  "bytes": retrieval.memory_per_vector(exact)},
        "hnsw": rows, "bytes": retrieval.memory_per_vector(hnsw), "build_s": build_s,
        "n": len(exact), "dim": exact.dim,
    }  # fmt: skip


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """n random directions in dim dimensions (Gaussian rows, normalised): float32 ``(n, dim)``."""
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)  # (n, dim)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def growth(sizes, *, dim: int = 64, queries: int = 200, k: int = 10, ef_search: int = 64, seed: int = 0):
    """How the cost grows with the gallery: per size n, synthetic unit vectors (``unit_vectors``), the
    HNSW build time, queries/s of exact and HNSW search, HNSW recall@k, bytes per vector."""
    rows = []
    q = unit_vectors(queries, dim, seed + 1)  # (queries, dim)
    for n in sizes:
        sweep = ef_sweep(unit_vectors(check_int(n, "sizes", "growth"), dim, seed), q, ef_search=(ef_search,),
                         k=k, repeats=2)  # fmt: skip
        (row,) = sweep["hnsw"]
        exact_qps = sweep["exact"]["qps"]
        rows.append({"n": n, "build_s": sweep["build_s"], "exact_qps": exact_qps, "hnsw_qps": row["qps"],
                     "recall": row["recall"], "hnsw_bytes": sweep["bytes"]})  # fmt: skip
    return rows


def memory_bytes(n: int, dim: int, *, pq_m: int | None = None, nbits: int = 8, id_bytes: int = 8) -> float:
    """Index memory for n vectors: float32 flat n·4·dim; IVF-PQ (Jégou et al. 2011) n·(pq_m·nbits/8 +
    id_bytes) — each vector stored as pq_m codes of nbits bits and its id (the inverted lists' and
    codebooks' fixed cost left out: small beside n rows)."""
    per_vector = 4 * dim if pq_m is None else pq_m * nbits / 8 + id_bytes
    return float(n) * per_vector


def _scene_towers(seed: int):
    torch.manual_seed(seed)
    image = models.SmallConvNet(3, feature_dim=64, width=16, last_kernel=1)
    text = models.TextEncoder(len(data.scenes.VOCABULARY), feature_dim=32, depth=1, heads=2)
    return methods.CLIP(image, text, embed_dim=32, loss="clip")


@torch.no_grad()
def _text_to_image(model, scenes, k: int) -> float:
    gallery = model.embed_images(scenes.images.float() / 255)  # (n, embed_dim) unit rows
    texts = model.embed_texts(data.scenes.tokenize(scenes.captions))  # (n, embed_dim)
    _, ids = retrieval.build_index(gallery, kind="exact").search(texts, k)  # (n, k)
    return retrieval.retrieval_recall(ids, np.arange(len(scenes)), k)


def scene_search(*, mode: str = "quick", seed: int = 0, k: int = 10) -> dict:
    """The CLIP towers (``methods.train_clip``) on the scene set: text→image recall@k over held-out scenes
    (each caption's own image in its k nearest), trained vs the same towers at random initialisation."""
    s = _settings(mode, "scene_search")
    scenes, held_out = data.Scenes(s["scenes"], seed=seed), data.Scenes(500, seed=seed + 1000)
    untrained, model = _scene_towers(seed).eval(), _scene_towers(seed)
    tokens = data.scenes.tokenize(scenes.captions)
    methods.train_clip(model, scenes.images, tokens, epochs=s["clip_epochs"], batch_size=100, seed=seed)
    return {"trained": _text_to_image(model, held_out, k), "random": _text_to_image(untrained, held_out, k),
            "chance": k / len(held_out), "model": model, "held_out": held_out}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _png(image) -> bytes:
    from PIL import Image  # the serve extra's Pillow, only for this request

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)[0]).save(buffer, "PNG")  # (H, W) gray
    return buffer.getvalue()


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "edu_contrast", *args]


def _wait_for_health(process, url: str, timeout: float) -> None:
    import httpx  # the serve extra's HTTP client

    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    output = process.stdout.read().decode()[-1500:] if process.poll() is not None else "no answer"
    raise RuntimeError(f"the server did not answer {url}/health within {timeout:g} s: {output}")


def search_over_http(run_dir, gallery_file, image, *, k: int = 5, timeout: float = 90.0) -> dict:
    """The service end to end: ``gallery`` embeds the run's test split into ``gallery_file``, ``serve``
    starts on 127.0.0.1 with it, one ``POST /search`` of the uint8 ``image`` (1, H, W), and the server
    is stopped. Returns ``{"commands", "results", "seconds"}`` (the answer's ``{"id", "score"}`` list)."""
    import httpx

    k = check_int(k, "k", "search_over_http")
    gallery = _command("gallery", "--checkpoint", str(run_dir), "--out", str(gallery_file), "--overwrite",
                       "--device", "cpu")  # fmt: skip
    subprocess.run(gallery, check=True, capture_output=True)
    port = _free_port()
    serve = _command("serve", "--checkpoint", str(run_dir), "--gallery", str(gallery_file), "--host",
                     "127.0.0.1", "--port", str(port), "--threads", "1")  # fmt: skip
    url, start = f"http://127.0.0.1:{port}", time.perf_counter()
    process = subprocess.Popen(serve, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for_health(process, url, timeout)
        files = {"image": ("query.png", _png(image), "image/png")}
        answer = httpx.post(f"{url}/search", files=files, data={"k": str(k)}, timeout=30)
        answer.raise_for_status()
    finally:
        process.terminate()  # uvicorn shuts down on SIGTERM
        process.wait(timeout=10)
    return {"commands": [" ".join(gallery[2:]), " ".join(serve[2:])], "results": answer.json()["results"],
            "seconds": time.perf_counter() - start}  # fmt: skip
