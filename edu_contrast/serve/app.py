"""The HTTP service: a FastAPI app over one ``Embedder``, served by uvicorn.

    GET  /health       → {"status": "ok", "backend", "image_shape": [C, H, W], "dim": d[, "gallery"]}
    POST /embed        form field ``image`` (PNG/JPEG)     → {"embedding": [h_1 … h_d], "dim", "backend"}
    POST /similarity   form fields ``image1``, ``image2``  → {"cosine_similarity": s, "backend"}
    POST /search       form fields ``image``, ``k`` (10)   → {"results": [{"id", "score"}, …]}, best first
    POST /search/text  JSON {"text": "a red circle", "k": 10} → the same, for CLIP's text tower

with s = h₁·h₂ / (‖h₁‖ ‖h₂‖), h = f(x). ``/search`` needs a gallery (``--gallery FILE``, written by
``python -m edu_contrast gallery``): its index is built at start-up, and a gallery embedded by another
encoder, or of another dimension, is refused then (``search.py``, ``gallery.py``). ``--clip RUN`` serves
a CLIP run (``text_search.save_clip``) instead of ``--checkpoint``: its image tower answers /embed and
/search, its text tower /search/text, over a gallery of scenes its image tower embedded (``text_search.py``).

An upload is decoded with Pillow, converted to the model's
channels (RGB → L for 1-channel models, L → RGB for 3-channel ones) and resized to its H × W.

Bad input never crashes a worker: it gets a 4xx answer ``{"error": "..."}`` —
400 empty, truncated or undecodable image · 413 upload over ``max_upload_bytes`` (Content-Length, or the
bytes actually received) or image over ``max_pixels`` · 415 not a PNG/JPEG · 422 a missing form field,
``k`` not a whole number in 1..``max_k``, or features h of zero · 404 ``/search`` on a server without gallery
(``/search/text``: without gallery or CLIP model) · for ``/search/text`` 400 a body that is not JSON, 413 text
over ``MAX_TEXT_CHARS``, 422 no or empty ``text``, too many words, a word outside the vocabulary.

    python -m edu_contrast.serve --checkpoint runs/X --backend onnx-int8 --host 127.0.0.1 --port 8000
    python -m edu_contrast serve --checkpoint runs/X --gallery runs/X/gallery.npz --index hnsw
    python -m edu_contrast serve --clip runs/clip --gallery runs/clip/gallery.npz
"""

import argparse
import io
import sys
import threading
from typing import Annotated

import numpy as np

from edu_contrast import retrieval
from edu_contrast.serve.backends import BACKENDS, Embedder, TorchEmbedder, load_embedder, method_from_state
from edu_contrast.serve.export import require
from edu_contrast.serve.gallery import model_identity
from edu_contrast.serve.search import MAX_K, BadQuery, Searcher, load_searcher, parse_k
from edu_contrast.serve.text_search import ImageTower, TextQuery, load_clip
from edu_contrast.train.storage import load_checkpoint

__all__ = ["create_app", "decode_image", "BadImage", "main", "MAX_UPLOAD_BYTES", "MAX_PIXELS", "PROG"]

MAX_UPLOAD_BYTES = 10 * 2**20  # 10 MiB per request
MAX_PIXELS = 4096 * 4096
NO_GALLERY = "This server has no gallery to search: start it with --gallery FILE"
NO_CLIP = (
    "This server has no CLIP text tower: start it with --clip RUN --gallery FILE to answer /search/text."
)
FORMATS = ("PNG", "JPEG")
SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # the first bytes of a PNG, a JPEG


class BadImage(ValueError):
    """An upload the service refuses; ``status`` is the HTTP code of the answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def decode_image(payload: bytes, image_shape, *, max_pixels: int = MAX_PIXELS, name: str = "image"):
    """PNG/JPEG bytes → uint8 (1, C, H, W) for a model taking ``image_shape`` (C, H, W), or ``BadImage``."""
    pil = require("PIL.Image")
    channels, height, width = image_shape
    if not payload:
        raise BadImage(f"'{name}' is empty (0 bytes): upload a PNG or JPEG file.")
    try:
        image = pil.open(io.BytesIO(payload), formats=FORMATS)  # reads the header only
    except pil.UnidentifiedImageError:
        if payload.startswith(SIGNATURES):  # says PNG/JPEG, but the header is broken
            raise BadImage(f"'{name}' is a corrupt PNG/JPEG file (its header cannot be read).") from None
        raise BadImage(f"'{name}' is not a PNG or JPEG image.", 415) from None
    except Exception as error:  # a header Pillow recognises but cannot parse
        raise BadImage(f"'{name}' could not be read as an image ({error}).") from None
    w, h = image.size
    if w < 1 or h < 1:
        raise BadImage(f"'{name}' has zero size ({w}×{h}).")
    if w * h > max_pixels:
        raise BadImage(f"'{name}' is {w}×{h} = {w * h} pixels; the limit is {max_pixels}.", 413)
    try:
        image.load()  # decodes: a truncated or corrupt file fails here
        image = image.convert("L" if channels == 1 else "RGB")
    except Exception as error:
        raise BadImage(f"'{name}' is truncated or corrupt ({error}).") from None
    if image.size != (width, height):
        image = image.resize((width, height), pil.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)  # (H, W) or (H, W, 3)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
    if array.shape[0] != channels:  # e.g. a 2- or 4-channel model: repeat or cut the channels
        array = np.resize(array, (channels, height, width))
    return np.ascontiguousarray(array[None])  # (1, C, H, W)


def _error(status: int, message: str):
    responses = require("fastapi.responses")
    return responses.JSONResponse({"error": message}, status_code=status)


class LimitUploadSize:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, by Content-Length before any byte is
    read, or as soon as that many bytes have arrived (chunked uploads, lying headers)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0")
        if not length.isdigit():
            return await _error(400, "Content-Length is not a number.")(scope, receive, send)
        if int(length) > self.limit:
            return await self._too_large(scope, receive, send)
        state = {"received": 0, "over": False, "started": False}

        async def counting_receive():
            message = await receive()
            state["received"] += len(message.get("body", b""))
            if state["received"] > self.limit:
                state["over"] = True
                raise _TooLarge
            return message

        async def guarded_send(message):
            if state["over"]:
                return  # the app's answer to a cut-off body is replaced by 413 below
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            state["over"] = True
        if state["over"] and not state["started"]:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send):
        message = f"The upload is larger than the limit of {self.limit} bytes."
        await _error(413, message)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _answer_errors_in_one_line(app) -> None:
    """Every error, ours or the framework's, becomes ``{"error": "..."}`` with its status (never a crash)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(BadImage)
    @app.exception_handler(BadQuery)
    async def bad_request(request, error: BadImage | BadQuery):
        return _error(error.status, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, error: RequestValidationError):
        missing = [str(e["loc"][-1]) for e in error.errors() if e.get("type") == "missing"]
        if missing:
            return _error(
                422, f"Missing form field(s): {', '.join(missing)} (multipart/form-data file uploads)."
            )
        return _error(422, "Invalid request: " + "; ".join(e.get("msg", "") for e in error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def unexpected(request, error: Exception):
        return _error(500, f"Internal error ({type(error).__name__}); the server keeps running.")


def create_app(
    embedder: Embedder,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_PIXELS,
    searcher: Searcher | None = None,
    max_k: int = MAX_K,
    text_query: TextQuery | None = None,
):
    """The app of ``embedder``, ``searcher``'s gallery on /search and, with ``text_query``, /search/text."""
    fastapi = require("fastapi")
    from fastapi.concurrency import run_in_threadpool

    app = fastapi.FastAPI(title="edu_contrast embeddings", version="1")
    lock = threading.Lock()  # one inference at a time: each already uses every intra-op thread

    def features(*uploads: tuple[str, bytes]) -> np.ndarray:
        images = np.concatenate(
            [decode_image(b, embedder.image_shape, max_pixels=max_pixels, name=n) for n, b in uploads]
        )
        with lock:
            return embedder.embed(images)  # (k, d)

    async def read(upload, name: str) -> tuple[str, bytes]:
        payload = await upload.read(max_upload_bytes + 1)
        if len(payload) > max_upload_bytes:
            raise BadImage(f"'{name}' is larger than the limit of {max_upload_bytes} bytes.", 413)
        return name, payload

    _answer_errors_in_one_line(app)

    @app.get("/health")
    async def health():
        shape = list(embedder.image_shape)
        answer = {"status": "ok", "backend": embedder.backend, "image_shape": shape, "dim": embedder.dim}
        if searcher is not None:
            answer["gallery"] = {"size": len(searcher), "index": searcher.index.kind}
        return answer

    @app.post("/embed")
    async def embed(image: Annotated[fastapi.UploadFile, fastapi.File()]):
        h = await run_in_threadpool(features, await read(image, "image"))
        return {"embedding": h[0].tolist(), "dim": int(h.shape[1]), "backend": embedder.backend}

    @app.post("/similarity")
    async def similarity(
        image1: Annotated[fastapi.UploadFile, fastapi.File()],
        image2: Annotated[fastapi.UploadFile, fastapi.File()],
    ):
        h = await run_in_threadpool(features, await read(image1, "image1"), await read(image2, "image2"))
        return {"cosine_similarity": cosine_similarity(h[0], h[1]), "backend": embedder.backend}

    def nearest(upload: tuple[str, bytes], k: int) -> list[dict]:
        h = features(upload)  # (1, d)
        with lock:
            return searcher.search(h, k)

    @app.post("/search")
    async def search(
        image: Annotated[fastapi.UploadFile, fastapi.File()],
        k: Annotated[str | None, fastapi.Form()] = None,
    ):
        if searcher is None:
            raise BadQuery(f"{NO_GALLERY} (python -m edu_contrast gallery writes one).", 404)
        top = parse_k(k, max_k)
        return {"results": await run_in_threadpool(nearest, await read(image, "image"), top)}

    def nearest_text(text: str, k: int) -> list[dict]:
        with lock:
            return searcher.search(text_query.embed(text), k)  # ŷ (1, d) against the gallery's x̂

    @app.post("/search/text")
    async def search_text(request: fastapi.Request):
        if text_query is None or searcher is None:
            raise BadQuery(NO_CLIP if text_query is None else f"{NO_GALLERY}.", 404)
        text, top = text_query.parse(await request.body(), max_k)
        return {"results": await run_in_threadpool(nearest_text, text, top)}

    return LimitUploadSize(app, max_upload_bytes)


def cosine_similarity(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> float:
    """s = a·b / max(‖a‖ ‖b‖, ε) (ε: an all-zero embedding gives 0, not NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), eps))


PROG = "python -m edu_contrast serve"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", help="run folder (or checkpoint.pt) written by train")
    model.add_argument("--clip", help="a CLIP run (text_search.save_clip): adds POST /search/text")
    p.add_argument("--backend", choices=BACKENDS, default="torch")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: the library's)")
    p.add_argument("--max-upload-bytes", type=int, default=MAX_UPLOAD_BYTES)
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    p.add_argument("--gallery", help="a gallery file (python -m edu_contrast gallery) to answer /search from")
    p.add_argument("--index", choices=retrieval.KINDS, default="exact", help="/search's index (hnsw: faiss)")
    p.add_argument("--max-k", type=int, default=MAX_K, help="the largest k /search answers")
    return p


def _model(args):
    """(embedder, identity(), text_query or None, flag) of --checkpoint, or of --clip (the torch backend)."""
    if args.clip is None:
        embedder = load_embedder(args.checkpoint, args.backend, threads=args.threads)

        def identity():
            state = load_checkpoint(args.checkpoint)
            return model_identity(method_from_state(state), epoch=int(state["epoch"]))

        return embedder, identity, None, "--checkpoint"
    if args.backend != "torch":
        raise ValueError(f"--clip is served by the torch backend only, not --backend {args.backend}")
    model, settings = load_clip(args.clip)
    embedder = TorchEmbedder(ImageTower(model), settings["image_shape"])  # x̂ = normalize(W_I f_I(x))
    return embedder, lambda: model_identity(model), TextQuery(model), "--clip"


def main(argv=None) -> int:
    """Load the checkpoint (or CLIP run) with the chosen backend and serve it until interrupted."""
    args = parser().parse_args(argv)
    if args.max_k < 1:
        parser().error(f"argument --max-k: expected an integer >= 1, got {args.max_k}")
    uvicorn = require("uvicorn")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    flag = "--checkpoint" if args.clip is None else "--clip"
    try:
        embedder, identity, text_query, flag = _model(args)
    except (OSError, ValueError, RuntimeError) as error:  # no run there, a damaged one, missing data
        print(f"{PROG}: error: argument {flag}: {error}", file=sys.stderr)
        return 2
    searcher = None
    if args.gallery is not None:
        gallery_command = "python -m edu_contrast gallery --clip RUN --out FILE"
        redo = "" if text_query is None else f"re-embed it: {gallery_command}"
        try:
            searcher = load_searcher(
                args.gallery, identity=identity(), dim=embedder.dim, kind=args.index, threads=args.threads,
                source=flag, redo=redo,
            )  # fmt: skip
        except ImportError as error:  # --index hnsw without faiss
            print(f"{PROG}: error: argument --index: {error}", file=sys.stderr)
            return 2
        except (OSError, ValueError) as error:  # no file, not a gallery, another model's
            print(f"{PROG}: error: argument --gallery: {error}", file=sys.stderr)
            return 2
    app = create_app(
        embedder,
        max_upload_bytes=args.max_upload_bytes,
        max_pixels=args.max_pixels,
        searcher=searcher,
        max_k=args.max_k,
        text_query=text_query,
    )
    served = f"{embedder}" + ("" if searcher is None else f" and {searcher}")
    print(f"Serving {served} on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
