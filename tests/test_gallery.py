"""``python -m edu_contrast gallery`` and the gallery file, in process: what it holds, what it refuses, and
the ``Searcher`` that ``POST /search`` answers from (the HTTP side is tests/test_serve_search.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from fast_train import digits_simclr_run

from edu_contrast import cli, data, measure, methods, serve
from edu_contrast.serve import app as serve_app
from edu_contrast.serve.gallery import Gallery, GalleryError, load_gallery, model_identity, save_gallery
from edu_contrast.serve.search import DEFAULT_K, BadQuery, Searcher, load_searcher, parse_k
from edu_contrast.serve.text_search import CLIP_NAME, save_clip, scene_gallery


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A one-epoch SimCLR on digits (h of size 32), checkpointed by ``train.fit``."""
    torch.manual_seed(0)
    return digits_simclr_run(tmp_path_factory.mktemp("gallery") / "run")


@pytest.fixture(scope="module")
def gallery_file(run_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gallery_file") / "digits.npz"
    assert cli.main(["gallery", "--checkpoint", str(run_dir), "--out", str(out), "--device", "cpu"]) == 0
    return out


@pytest.mark.slow  # run_dir trains a one-epoch run
def test_the_gallery_holds_the_test_split_features_h_that_embed_returns(run_dir, gallery_file):
    gallery = load_gallery(gallery_file)
    test = data.load_dataset("digits", "test")
    method, config = serve.load_method(run_dir)
    assert len(gallery) == len(test) and gallery.dim == 32
    np.testing.assert_array_equal(gallery.ids, np.arange(len(test)))
    np.testing.assert_array_equal(gallery.labels, test.labels.numpy())
    served = serve.load_embedder(run_dir, "torch").embed(test.images.numpy())  # what /embed answers
    np.testing.assert_allclose(gallery.embeddings, served, rtol=1e-5, atol=1e-5)
    probed = measure.embed(method, test.images).numpy()  # what the probes see
    np.testing.assert_allclose(gallery.embeddings, probed, rtol=1e-5, atol=1e-5)
    identity = gallery.identity
    assert identity["encoder_sha256"] == model_identity(method)["encoder_sha256"]
    assert identity["method"] == config["method"] and identity["image_shape"] == [1, 8, 8]
    assert (identity["dataset"], identity["split"], identity["dim"]) == ("digits", "test", 32)
    assert identity["epoch"] == 1


@pytest.mark.slow  # run_dir trains a one-epoch run
def test_an_existing_out_is_never_replaced_without_overwrite(run_dir, gallery_file, capsys):
    before = gallery_file.read_bytes()
    argv = ["gallery", "--checkpoint", str(run_dir), "--out", str(gallery_file), "--split", "train"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "gallery: error: argument --out:" in err and "--overwrite" in err and str(gallery_file) in err
    assert gallery_file.read_bytes() == before
    copy = gallery_file.with_name("copy.npz")
    copy.write_bytes(before)
    assert cli.main(["gallery", "--checkpoint", str(run_dir), "--out", str(copy), "--split", "train",
                     "--overwrite"]) == 0  # fmt: skip
    replaced = load_gallery(copy)
    assert replaced.identity["split"] == "train" and len(replaced) == len(data.load_dataset("digits"))
    assert not list(copy.parent.glob(".copy.npz.*.tmp"))  # the atomic write left no temporary file


@pytest.mark.slow  # run_dir trains a one-epoch run
@pytest.mark.parametrize(
    "case, flag, words",
    [
        ("no run", "--checkpoint", "No checkpoint"),
        ("a folder as --out", "--out", "is a folder"),
        ("images of another shape", "--dataset", "1×28×28, but the run's encoder takes 1×8×8"),
    ],
)
def test_user_errors_are_one_line_naming_the_flag(case, flag, words, run_dir, tmp_path, capsys, monkeypatch):
    checkpoint, out, extra = run_dir, tmp_path / "g.npz", []
    if case == "no run":
        checkpoint = tmp_path / "nope"
    elif case == "a folder as --out":
        out, extra = tmp_path, ["--overwrite"]
    else:
        fake = data.ImageTensors(
            torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4) % 2, ["a", "b"]
        )
        monkeypatch.setattr(data, "load_dataset", lambda *args, **kwargs: fake)
    assert cli.main(["gallery", "--checkpoint", str(checkpoint), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"error: argument {flag}: " in err and words in err, err
    assert not out.is_file() and not list(tmp_path.glob("*.npz"))


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory) -> tuple[Path, methods.CLIP]:
    """(run folder, model): the tiny untrained CLIP of tests/test_serve_search_text.py, saved for 24 × 24."""
    build = pytest.importorskip("test_serve_search_text").build  # that module needs httpx and fastapi
    model = build(seed=0).eval()
    run = tmp_path_factory.mktemp("clip") / "run"
    save_clip(model, run, image_shape=(3, 24, 24))
    return run, model


def test_gallery_clip_embeds_the_scenes_like_scene_gallery_and_the_server_accepts_it(clip_run, tmp_path):
    run, model = clip_run
    out = tmp_path / "scenes.npz"
    argv = ["gallery", "--clip", str(run), "--scenes", "12", "--seed", "7", "--out", str(out)]
    assert cli.main(argv) == 0
    gallery, expected = load_gallery(out), scene_gallery(model, data.Scenes(12, size=24, seed=7))
    np.testing.assert_array_equal(gallery.ids, expected.ids)
    np.testing.assert_allclose(gallery.embeddings, expected.embeddings, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(gallery.labels, expected.labels)
    assert gallery.identity["encoder_sha256"] == expected.identity["encoder_sha256"]
    assert (gallery.identity["split"], gallery.identity["image_shape"]) == ("seed 7", [3, 24, 24])
    args = serve_app.parser().parse_args(["--clip", str(run), "--gallery", str(out)])
    embedder, identity, _, flag = serve_app._model(
        args
    )  # what serve's start-up loads, then checks the file with
    searcher = load_searcher(out, identity=identity(), dim=embedder.dim, source=flag)
    assert searcher.search(gallery.embeddings[3:4], 1)[0]["id"] == 3
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.image_projection.weight[0, 0] += 1e-3  # another image tower
    with pytest.raises(GalleryError, match="--clip"):  # a gallery of another CLIP is refused at start-up
        load_searcher(out, identity=model_identity(other), dim=embedder.dim, source=flag)


def test_gallery_clip_replaces_out_only_with_overwrite_and_defaults_to_seed_1000(clip_run, tmp_path):
    run, _ = clip_run
    out = tmp_path / "scenes.npz"
    assert cli.main(["gallery", "--clip", str(run), "--scenes", "3", "--seed", "1", "--out", str(out)]) == 0
    assert cli.main(["gallery", "--clip", str(run), "--scenes", "5", "--out", str(out), "--overwrite"]) == 0
    replaced = load_gallery(out)
    assert len(replaced) == 5 and replaced.identity["split"] == "seed 1000"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenes.npz"]  # no temporary file left


@pytest.mark.parametrize(
    "case, flag, words",
    [
        ("no model flag", "--checkpoint", "pass --checkpoint RUN (a trained run) or --clip RUN"),
        ("--clip with --checkpoint", "--clip", "not allowed with --checkpoint"),
        ("--scenes without --clip", "--scenes", "only with --clip"),
        ("--dataset with --clip", "--dataset", "not with --clip"),
        ("a missing run", "--clip", "No CLIP run at"),
        ("a damaged run", "--clip", "is damaged"),
        ("an existing --out", "--out", "already exists; choose another --out, or pass --overwrite"),
    ],
)
def test_gallery_clip_user_errors_are_one_line_naming_the_flag(case, flag, words, clip_run, tmp_path, capsys):
    run, out = clip_run[0], tmp_path / "g.npz"
    model = ["--clip", str(run)]
    if case == "no model flag":
        model = []
    elif case == "--clip with --checkpoint":
        model += ["--checkpoint", str(run)]
    elif case == "--scenes without --clip":
        model = ["--checkpoint", str(run)]  # and the --scenes 3 below
    elif case == "--dataset with --clip":
        model += ["--dataset", "digits"]
    elif case == "a missing run":
        model = ["--clip", str(tmp_path / "nope")]
    elif case == "a damaged run":
        state = torch.load(run / CLIP_NAME, weights_only=True)
        state["model"]["image_projection.weight"] += 1  # changed after writing: the checksum differs
        damaged = tmp_path / "damaged" / CLIP_NAME
        damaged.parent.mkdir()
        torch.save(state, damaged)
        model = ["--clip", str(damaged.parent)]
    else:
        out.write_bytes(b"an earlier gallery")
    assert cli.main(["gallery", *model, "--scenes", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"gallery: error: argument {flag}: " in err and words in err, err
    if case == "an existing --out":
        assert out.read_bytes() == b"an earlier gallery"
    else:
        assert not list(tmp_path.glob("*.npz"))


def _small_gallery(n: int = 50, dim: int = 8, seed: int = 0) -> Gallery:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    identity = {"encoder_sha256": "ab" * 32, "method": {"name": "simclr"}, "epoch": 2, "dataset": "digits"}
    return Gallery(np.arange(100, 100 + n), vectors, np.arange(n) % 3, identity)


def test_save_and_load_round_trip_and_refuse_to_overwrite(tmp_path):
    gallery, path = _small_gallery(), tmp_path / "g.npz"
    save_gallery(path, gallery)
    back = load_gallery(path)
    np.testing.assert_array_equal(back.ids, gallery.ids)
    np.testing.assert_array_equal(back.embeddings, gallery.embeddings)
    np.testing.assert_array_equal(back.labels, gallery.labels)
    assert back.identity == {**gallery.identity, "dim": 8, "format": 1}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_gallery(path, _small_gallery(seed=1))
    np.testing.assert_array_equal(load_gallery(path).embeddings, gallery.embeddings)


@pytest.mark.parametrize("kind", ["not a zip", "truncated", "npz without identity", "npy", "missing"])
def test_a_file_that_is_not_a_gallery_is_refused_with_the_command_that_writes_one(kind, tmp_path):
    path = tmp_path / "g.npz"
    if kind == "not a zip":
        path.write_bytes(b"hello, I am text")
    elif kind == "truncated":
        save_gallery(path, _small_gallery())
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "npz without identity":
        np.savez(path, ids=np.arange(3), embeddings=np.ones((3, 2)), labels=np.zeros(3))
    elif kind == "npy":
        path = tmp_path / "g.npy"
        np.save(path, np.ones((3, 2)))
    error = FileNotFoundError if kind == "missing" else GalleryError
    with pytest.raises(error, match="python -m edu_contrast gallery") as info:
        load_gallery(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_gallery_of_another_model_or_dimension_is_refused(tmp_path):
    gallery = _small_gallery()
    gallery.check_model({"encoder_sha256": "ab" * 32}, 8)  # the same model: no error
    with pytest.raises(GalleryError, match=r"another encoder \(sha256 abababababab…, simclr at epoch 2\)"):
        gallery.check_model({"encoder_sha256": "cd" * 32, "method": {"name": "byol"}}, 8)
    with pytest.raises(GalleryError, match="dimension 8, but the model's features h have dimension 16"):
        gallery.check_model({"encoder_sha256": "ab" * 32}, 16)
    save_gallery(tmp_path / "g.npz", gallery)
    with pytest.raises(GalleryError, match="--checkpoint"):
        load_searcher(tmp_path / "g.npz", identity={"encoder_sha256": "cd" * 32}, dim=8)


def test_model_identity_changes_with_any_weight_and_with_the_batchnorm_statistics():
    torch.manual_seed(0)
    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=4, feature_dim=8)
    first = model_identity(method)
    assert model_identity(method) == first and first["method"]["name"] == "simclr"
    with torch.no_grad():
        next(method.encoder.parameters()).view(-1)[0] += 1e-6
    second = model_identity(method)
    assert second["encoder_sha256"] != first["encoder_sha256"]
    bn = next(m for m in method.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_mean += 1
    third = model_identity(method)
    assert third["encoder_sha256"] != second["encoder_sha256"]
    with torch.no_grad():
        next(method.projector.parameters()).add_(1.0)  # the head g is not part of h = f(x)
    assert model_identity(method) == third


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_searcher_finds_each_item_first_and_ranks_like_a_brute_force_cosine_loop(kind):
    if kind == "hnsw":
        pytest.importorskip("faiss")
    gallery = _small_gallery(n=200, dim=16)
    searcher = Searcher(gallery, kind=kind)
    unit = gallery.embeddings / np.linalg.norm(gallery.embeddings, axis=1, keepdims=True)  # (n, d)
    for row in (0, 17, 199):
        query = gallery.embeddings[row][None] * 3.0  # (1, d): the scale of h does not matter
        results = searcher.search(query, 5)
        assert results[0]["id"] == int(gallery.ids[row]) and results[0]["score"] == pytest.approx(1, abs=1e-5)
        cosines = [float(unit[row] @ unit[j]) for j in range(len(gallery))]  # the oracle, one item at a time
        order = sorted(range(len(gallery)), key=lambda j: -cosines[j])[:5]
        assert [r["id"] for r in results] == [int(gallery.ids[j]) for j in order]
        np.testing.assert_allclose([r["score"] for r in results], [cosines[j] for j in order], atol=1e-5)


def test_k_above_the_gallery_size_returns_every_item_and_zero_features_are_refused():
    searcher = Searcher(_small_gallery(n=7, dim=4))
    results = searcher.search(np.ones((1, 4), np.float32), 50)
    assert sorted(r["id"] for r in results) == list(range(100, 107))
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for bad in (np.zeros((1, 4), np.float32), np.full((1, 4), np.nan, np.float32)):
        with pytest.raises(BadQuery, match="no direction") as info:
            searcher.search(bad, 3)
        assert info.value.status == 422


def test_parse_k():
    assert parse_k(None) == DEFAULT_K == parse_k("") and parse_k(" 3 ", 5) == 3 and parse_k("5", 5) == 5
    assert parse_k(None, limit=4) == 4
    for text in ("0", "-1", "6", "abc", "2.5", "1e3"):
        with pytest.raises(BadQuery, match=f"'k' must be a whole number from 1 to 5; got '{text}'"):
            parse_k(text, 5)
