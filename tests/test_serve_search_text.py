"""``POST /search/text`` on the real server: ``python -m edu_contrast serve --clip RUN --gallery FILE`` in a
subprocess on 127.0.0.1, talked to over HTTP; a CLIP run saved and loaded back; the start-up refusals."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from test_serve_search import ENV, SERVE, _free_port, _start, _stop, png, run_and_gallery  # noqa: E402, F401

from edu_contrast import data, methods, models  # noqa: E402
from edu_contrast.data.scenes import VOCABULARY, tokenize  # noqa: E402
from edu_contrast.methods.clip import train_clip  # noqa: E402
from edu_contrast.serve.gallery import Gallery, load_gallery, save_gallery  # noqa: E402
from edu_contrast.serve.text_search import MAX_TEXT_CHARS, load_clip, save_clip, scene_gallery  # noqa: E402

MAX_K, GALLERY_SIZE = 50, 200
# The exact caption of a gallery scene ranks that scene in its top 10 after 80 steps (5 epochs of 2048
# scenes, batches of 128) for 0.98, 1.0, 1.0 of the 200 held-out scenes (torch seeds 0, 1, 2; 2-core EPYC,
# float32); untrained, for ~0.09 (chance: 10/200 = 0.05).
RECALL_BAR = 0.9


def build(seed: int = 0) -> methods.CLIP:
    torch.manual_seed(seed)
    image_encoder = models.SmallConvNet(3, feature_dim=64, width=16, last_kernel=1)
    text_encoder = models.TextEncoder(len(VOCABULARY), feature_dim=32, depth=1, heads=2)
    return methods.CLIP(image_encoder, text_encoder, embed_dim=32)


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    """(run folder, gallery file, the trained model): 80 CLIP steps, a gallery of 200 held-out scenes."""
    folder = tmp_path_factory.mktemp("clip")
    model, train = build(), data.Scenes(2048, seed=0)
    train_clip(model, train.images, tokenize(train.captions, 16), epochs=5, batch_size=128)
    save_clip(model, folder / "run")
    gallery = folder / "gallery.npz"
    save_gallery(gallery, scene_gallery(model, data.Scenes(GALLERY_SIZE, seed=1000), split="seed 1000"))
    return folder / "run", gallery, model


@pytest.fixture(scope="module", params=["exact", "hnsw"])
def server(request, clip_run):
    if request.param == "hnsw":
        pytest.importorskip("faiss")
    run, gallery, _ = clip_run
    flags = ("--clip", str(run), "--gallery", str(gallery), "--index", request.param, "--max-k", str(MAX_K))
    process, url = _start(*flags)
    yield url
    _stop(process)


def search_text(url: str, body=None, *, content: bytes | None = None):
    return httpx.post(f"{url}/search/text", json=body, content=content, timeout=30)


def test_a_saved_clip_run_loads_back_with_the_same_towers_and_is_never_overwritten(tmp_path):
    model = build(seed=3).eval()
    path = save_clip(model, tmp_path, image_shape=(3, 24, 24))
    loaded, settings = load_clip(tmp_path)
    assert settings["image_shape"] == [3, 24, 24] and settings["text_encoder"]["depth"] == 1
    images, tokens = data.Scenes(8, size=24, seed=5).images.float() / 255, tokenize(["a red circle", "a"])
    with torch.no_grad():
        torch.testing.assert_close(loaded.embed_images(images), model.embed_images(images), rtol=0, atol=0)
        torch.testing.assert_close(loaded.embed_texts(tokens), model.embed_texts(tokens), rtol=0, atol=0)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_clip(model, tmp_path)
    state = torch.load(path, weights_only=True)
    state["model"]["image_projection.weight"] += 1  # a changed weight: the checksum no longer matches
    torch.save(state, path)
    with pytest.raises(ValueError, match="damaged"):
        load_clip(path)


@pytest.mark.slow
def test_the_gallery_holds_unit_rows_and_the_identity_of_both_towers(clip_run):
    run, gallery_file, model = clip_run
    gallery = load_gallery(gallery_file)
    assert len(gallery) == GALLERY_SIZE and gallery.dim == 32
    np.testing.assert_allclose(np.linalg.norm(gallery.embeddings, axis=1), 1, atol=1e-5)
    other = build(seed=1)
    other.image_encoder.load_state_dict(model.image_encoder.state_dict())  # same image tower, other text one
    assert (
        scene_gallery(other, data.Scenes(4, seed=1)).identity["encoder_sha256"]
        != gallery.identity["encoder_sha256"]
    )


@pytest.mark.slow
def test_the_exact_caption_of_a_gallery_scene_ranks_it_in_the_top_10(server):
    scenes = data.Scenes(GALLERY_SIZE, seed=1000)
    hits = []
    for i, caption in enumerate(scenes.captions):
        answer = search_text(server, {"text": caption, "k": 10})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        scores = [r["score"] for r in results]
        assert len(results) == 10 and scores == sorted(scores, reverse=True)
        hits.append(i in [r["id"] for r in results])
    assert np.mean(hits) >= RECALL_BAR, np.mean(hits)


@pytest.mark.slow
@pytest.mark.parametrize("text", ["a small red circle at the top left", "A BLUE square", "above"])
def test_k_defaults_to_10_and_the_ranking_is_the_brute_force_cosine_one(server, clip_run, text):
    _, gallery_file, model = clip_run
    gallery = load_gallery(gallery_file)
    results = search_text(server, {"text": text}).json()["results"]
    with torch.no_grad():
        y = model.embed_texts(tokenize([text]))[0].numpy()  # (32,) ŷ, unit
    cosines = gallery.embeddings @ y  # (n,): x̂_i · ŷ
    best = np.argsort(-cosines, kind="stable")[:10]
    ids, scores = [r["id"] for r in results], [r["score"] for r in results]
    np.testing.assert_allclose(scores, cosines[best], atol=1e-5)  # the 10 best scores, in order
    np.testing.assert_allclose(cosines[ids], scores, atol=1e-5)  # each id's own cosine: equal up to ties
    assert len(set(ids)) == 10


@pytest.mark.slow
def test_the_image_tower_answers_search_a_gallery_scene_finds_itself(server):
    image = data.Scenes(GALLERY_SIZE, seed=1000).images[17].permute(1, 2, 0).numpy()  # (32, 32, 3) uint8
    answer = httpx.post(f"{server}/search", files={"image": ("q.png", png(image), "image/png")}, timeout=30)
    first = answer.json()["results"][0]
    assert first["id"] == 17 and first["score"] == pytest.approx(1, abs=1e-5)


BAD = {  # case: (status, JSON body or raw bytes, words the one-line message must hold)
    "k = 0": (422, {"text": "a red circle", "k": 0}, f"'k' must be a whole number from 1 to {MAX_K}"),
    "k < 0": (422, {"text": "a red circle", "k": -2}, "'k' must be"),
    "k above --max-k": (422, {"text": "a red circle", "k": MAX_K + 1}, "'k' must be"),
    "k not a number": (422, {"text": "a red circle", "k": "ten"}, "'k' must be"),
    "k a boolean": (422, {"text": "a red circle", "k": True}, "'k' must be"),
    "empty text": (422, {"text": "", "k": 5}, "non-empty"),
    "blank text": (422, {"text": "   ", "k": 5}, "non-empty"),
    "text not a string": (422, {"text": 7}, "non-empty string"),
    "over-long text": (413, {"text": "a " * MAX_TEXT_CHARS}, f"the limit is {MAX_TEXT_CHARS}"),
    "too many words": (422, {"text": " ".join(["red"] * 17)}, "at most 16"),
    "a word outside the vocabulary": (422, {"text": "a red dog"}, "'dog' is not in the vocabulary"),
    "missing text": (422, {"k": 5}, "Missing field: text"),
    "a list, not an object": (422, ["a red circle"], "Missing field: text"),
    "not JSON": (400, b"text=a red circle", "not JSON"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_a_one_line_4xx_and_the_server_keeps_searching(server, case):
    status, body, words = BAD[case]
    answer = search_text(server, content=body) if isinstance(body, bytes) else search_text(server, body)
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]
    assert isinstance(message, str) and "\n" not in message and words in message, message
    assert search_text(server, {"text": "a red circle", "k": 1}).json()["results"][0].keys() == {
        "id",
        "score",
    }


@pytest.mark.slow
def test_search_text_is_404_without_a_clip_model_or_without_a_gallery(run_and_gallery, clip_run):  # noqa: F811
    for flags, words in (
        (("--checkpoint", str(run_and_gallery[0]), "--gallery", str(run_and_gallery[1])), "--clip RUN"),
        (("--clip", str(clip_run[0])), "--gallery FILE"),
    ):
        process, url = _start(*flags)
        try:
            answer = search_text(url, {"text": "a red circle"})
            assert answer.status_code == 404 and words in answer.json()["error"], answer.text
        finally:
            _stop(process)


def _refusals(run, gallery_file, image_gallery_file, folder):
    """(flags, the words of the one error line) of servers that must refuse to start."""
    good = load_gallery(gallery_file)
    other = folder / "other-clip.npz"  # another CLIP model's scenes
    save_gallery(other, scene_gallery(build(seed=7), data.Scenes(20, seed=3)))
    wide = folder / "other-dim.npz"  # this model's identity, vectors of another size
    save_gallery(wide, Gallery(good.ids, np.ones((len(good), 16), np.float32), good.labels, good.identity))
    broken = folder / "broken"
    broken.mkdir()
    (broken / "clip.pt").write_bytes(b"not a checkpoint")
    return {
        (
            "--clip",
            str(run),
            "--gallery",
            str(other),
        ): "argument --gallery: the gallery was embedded by another",
        ("--clip", str(run), "--gallery", str(image_gallery_file)): "than --clip",
        (
            "--clip",
            str(run),
            "--gallery",
            str(wide),
        ): "dimension 16, but --clip's features h have dimension 32",
        ("--clip", str(broken)): "argument --clip: ",
        ("--clip", str(run), "--backend", "onnx"): "torch backend only",
    }


@pytest.mark.slow
def test_a_mismatched_gallery_or_run_is_refused_at_start_up_in_one_line(clip_run, run_and_gallery, tmp_path):  # noqa: F811
    run, gallery_file, _ = clip_run
    for flags, words in _refusals(run, gallery_file, run_and_gallery[1], tmp_path).items():
        done = subprocess.run(
            [*SERVE, *flags, "--port", str(_free_port())],
            capture_output=True,
            text=True,
            timeout=120,
            env=ENV,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and words in lines[0], (flags, lines)
