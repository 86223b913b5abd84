"""CLIP in miniature: the text tower reads words (not padding, and their order), the two-tower model is
the loss of its own embeddings with a learnable scale, and a short training run retrieves captions far
better than the same architecture at random initialisation, with either loss."""

from __future__ import annotations

import math

import pytest
import torch

from edu_contrast import losses
from edu_contrast.data import VOCABULARY, Scenes, tokenize
from edu_contrast.methods import CLIP, train_clip
from edu_contrast.methods.clip import adamw
from edu_contrast.models import SmallConvNet, TextEncoder
from edu_contrast.retrieval import retrieval_recall

# A short run: 2 000 training scenes, 5 epochs of batches of 100 (100 AdamW steps, ~6 CPU-s on one thread
# of a 2-core AMD EPYC, float32), then image→text recall@5 among 500 held-out scenes (chance 5/500 = 0.01).
TRAIN, TEST, EPOCHS, BATCH = 2000, 500, 5, 100
# Measured with this configuration for seeds 0-4 (model, training order and scenes all from the seed; the
# held-out scenes from seed + 1000): recall@5 trained minus recall@5 of the same architecture at random
# initialisation (0.006-0.012), clip min 0.465 / median 0.600, siglip min 0.398 / median 0.445.
MARGIN = 0.3
# How far the learned parameters moved from their initialisation over those runs: |Δt'| clip min 0.123 /
# median 0.135; siglip |Δt'| min 0.003 / median 0.0075 and |Δb| min 0.010 / median 0.016.
MOVED = {"clip": 0.05, "siglip": 0.001}
BIAS_MOVED = 0.003


def build(loss: str = "clip", seed: int = 0) -> CLIP:
    torch.manual_seed(seed)
    image_encoder = SmallConvNet(3, feature_dim=64, width=16, last_kernel=1)
    text_encoder = TextEncoder(len(VOCABULARY), feature_dim=32, depth=1, heads=2)
    return CLIP(image_encoder, text_encoder, embed_dim=32, loss=loss)


@torch.no_grad()
def image_to_text_recall(model: CLIP, scenes: Scenes, k: int = 5) -> float:
    model.eval()
    x = model.embed_images(scenes.images.float() / 255)  # (N, embed_dim)
    y = model.embed_texts(tokenize(scenes.captions))  # (N, embed_dim)
    return retrieval_recall(x @ y.T, torch.arange(len(scenes)), k)


@pytest.fixture(scope="module")
def held_out():
    return Scenes(TEST, seed=1000)


@pytest.fixture(scope="module", params=["clip", "siglip"])
def trained(request):
    """(loss, model before training, model after, the history of t): one short run per loss."""
    torch.set_num_threads(1)
    scenes = Scenes(TRAIN, seed=0)
    model = build(request.param)
    untrained = build(request.param)
    history = train_clip(model, scenes.images, tokenize(scenes.captions), epochs=EPOCHS, batch_size=BATCH)
    return request.param, untrained, model, history


# ------------------------------------------------------------ the text tower


def test_text_encoder_ignores_padding_and_reads_word_order():
    torch.manual_seed(0)
    encoder = TextEncoder(len(VOCABULARY), feature_dim=32, depth=2, heads=4).eval()
    captions = ["a small red circle left of a large blue square", "a large green cross at the top left"]
    with torch.no_grad():
        h = encoder(tokenize(captions))  # (2, 32)
        padded = encoder(tokenize(captions, length=16))
        alone = encoder(tokenize(captions[1:]))
        swapped = encoder(tokenize(["a small blue circle left of a large red square"]))
    assert h.shape == (2, 32) and torch.isfinite(h).all()
    torch.testing.assert_close(padded, h, atol=1e-5, rtol=1e-5)  # padding is never attended to
    torch.testing.assert_close(alone, h[1:], atol=1e-5, rtol=1e-5)  # rows do not see each other
    assert (swapped - h[:1]).norm() > 1e-3  # the same words in another order: position embeddings


@pytest.mark.parametrize(
    ("tokens", "error", "message"),
    [
        (torch.ones(2, 3), TypeError, "'tokens' parameter of TextEncoder must be an int64 tensor"),
        (torch.ones(2, 17, dtype=torch.int64), ValueError, r"1 <= L <= max_length=16"),
        (torch.tensor([[1, 99]]), ValueError, r"ids in \[0, 22\)"),
        (torch.tensor([[1, 2], [0, 0]]), ValueError, r"at least one word .* all-padding rows \[1\]"),
    ],
)
def test_text_encoder_names_bad_tokens(tokens, error, message):
    with pytest.raises(error, match=message):
        TextEncoder(len(VOCABULARY))(tokens)


# ------------------------------------------------------------ the two-tower model


def test_embeddings_are_unit_rows_and_the_loss_is_the_functional_loss():
    scenes = Scenes(8, seed=0)
    images, tokens = scenes.images.float() / 255, tokenize(scenes.captions)
    for loss in ("clip", "siglip"):
        model = build(loss).eval()
        x, y = model.embed_images(images), model.embed_texts(tokens)
        assert x.shape == y.shape == (8, 32)
        torch.testing.assert_close(x.norm(dim=1), torch.ones(8))
        t = model.logit_scale()
        if loss == "clip":
            assert math.isclose(t.item(), 1 / 0.07, rel_tol=1e-6)
            expected = losses.clip(x, y, logit_scale=t)
        else:
            assert math.isclose(t.item(), 10.0, rel_tol=1e-6) and model.criterion.logit_bias.item() == -10.0
            expected = losses.siglip(x, y, logit_scale=t, logit_bias=model.criterion.logit_bias)
        torch.testing.assert_close(model(images, tokens), expected)


@pytest.mark.parametrize("loss", ["clip", "siglip"])
def test_gradients_reach_both_towers_the_projections_and_the_scale(loss):
    scenes = Scenes(8, seed=1)
    model, tokens = build(loss), tokenize(scenes.captions)
    model(scenes.images.float() / 255, tokens).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    rows = model.text_encoder.token_embedding.weight.grad.abs().sum(1)  # (vocabulary,)
    assert rows[0] == 0 and (rows[tokens.unique()[1:]] > 0).all()  # every word read, padding never
    names = {name for name, _ in model.named_parameters()}
    assert "criterion.logit_scale.log_scale" in names
    assert ("criterion.logit_bias" in names) == (loss == "siglip")


def test_clip_names_bad_inputs():
    scenes = Scenes(4, seed=0)
    images, tokens = scenes.images.float() / 255, tokenize(scenes.captions)
    model = build()
    with pytest.raises(TypeError, match="'images' parameter of CLIP .* x.float\\(\\) / 255"):
        model(scenes.images, tokens)
    with pytest.raises(ValueError, match="'images' parameter of CLIP .*Got values up to 2"):
        model(images * 255, tokens)
    with pytest.raises(ValueError, match="'tokens' parameter of CLIP must be one row per image \\(4\\)"):
        model(images, tokens[:3])
    with pytest.raises(ValueError, match="'loss' parameter of CLIP must be one of 'clip', 'siglip'"):
        build("sigmoid")
    with pytest.raises(TypeError, match="'text_encoder' parameter of CLIP"):
        CLIP(SmallConvNet(3), torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="'batch_size' parameter of train_clip must be <= the number"):
        train_clip(model, scenes.images, tokens, batch_size=5)
    with pytest.raises(TypeError, match="'images' parameter of train_clip must be a uint8 tensor"):
        train_clip(model, images, tokens)


def test_the_scale_is_clamped_after_each_step_and_never_decayed():
    scenes = Scenes(8, seed=2)
    model = build()
    with torch.no_grad():
        model.logit_scale.log_scale.fill_(math.log(150.0))  # above the bound t_max = 100
    history = train_clip(model, scenes.images, tokenize(scenes.captions), epochs=2, batch_size=4, lr=1e-4)
    assert len(history) == 4 and max(history) <= 100.0 + 1e-3
    assert model.logit_scale.log_scale.item() <= math.log(100.0) + 1e-6
    decayed = {
        id(p)
        for group in adamw(model, 1e-3, 0.1).param_groups
        if group["weight_decay"]
        for p in group["params"]
    }
    assert id(model.logit_scale.log_scale) not in decayed
    assert id(model.image_projection.weight) in decayed


# ------------------------------------------------------------ a short training run


def test_training_beats_random_initialisation_at_retrieval(trained, held_out):
    loss, untrained, model, _ = trained
    before, after = image_to_text_recall(untrained, held_out), image_to_text_recall(model, held_out)
    assert before < 0.05  # about chance, 5/500
    assert after > before + MARGIN, f"{loss}: recall@5 {after:.3f} vs {before:.3f} at random initialisation"


def test_the_logit_scale_is_learned(trained):
    loss, untrained, model, history = trained
    assert len(history) == EPOCHS * (TRAIN // BATCH) and all(0 < t <= 100 for t in history)
    assert model.logit_scale().item() == pytest.approx(history[-1])
    moved = abs(model.logit_scale.log_scale.item() - untrained.logit_scale.log_scale.item())
    assert moved > MOVED[loss], f"{loss}: t' moved by {moved:.4f} only"
    if loss == "siglip":
        assert abs(model.criterion.logit_bias.item() - untrained.criterion.logit_bias.item()) > BIAS_MOVED
