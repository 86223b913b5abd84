"""Notebook 15's lesson: NegCLIP's loss against a loop oracle, prompts, zero-shot and the swap test on models
whose answer is known, the small-batch study's equal steps, and check_effect failing on a broken input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edu_contrast import losses
from edu_contrast.data.scenes import COLORS, PALETTE, SHAPES, VOCABULARY, Scenes, tokenize
from edu_contrast.lessons import clip as lesson

# ------------------------------------------------------------ CLIP with extra text negatives


def negclip_oracle(image, text, negatives, t):
    """NegCLIP's loss written from the definition, one anchor at a time."""
    x = [v / v.norm() for v in image]
    y = [v / v.norm() for v in text]
    m = [v / v.norm() for v in negatives]
    n = len(x)
    image_to_text = 0.0
    for i in range(n):
        denominator = sum(math.exp(t * float(x[i] @ y[j])) for j in range(n))
        denominator += sum(math.exp(t * float(x[i] @ neg)) for neg in m)
        image_to_text += -math.log(math.exp(t * float(x[i] @ y[i])) / denominator)
    text_to_image = 0.0
    for j in range(n):
        denominator = sum(math.exp(t * float(x[i] @ y[j])) for i in range(n))
        text_to_image += -math.log(math.exp(t * float(x[j] @ y[j])) / denominator)
    return (image_to_text / n + text_to_image / n) / 2


@pytest.mark.parametrize(("n", "m", "t"), [(5, 3, 1 / 0.07), (4, 0, 2.0), (3, 6, 30.0)])
def test_clip_with_text_negatives_matches_its_loop_oracle(n, m, t):
    g = torch.Generator().manual_seed(n + m)
    image, text, negatives = (torch.randn(k, 6, generator=g, dtype=torch.float64) for k in (n, n, m))
    got = lesson.clip_with_text_negatives(image, text, negatives, logit_scale=t)
    assert got.item() == pytest.approx(negclip_oracle(image, text, negatives, t), rel=1e-5)


def test_without_negatives_it_is_clip_and_a_close_negative_raises_the_loss():
    g = torch.Generator().manual_seed(0)
    image = torch.randn(6, 8, generator=g)
    text = image + 0.1 * torch.randn(6, 8, generator=g)  # trained-like: each caption near its image
    plain = lesson.clip_with_text_negatives(image, text, torch.empty(0, 8))
    torch.testing.assert_close(plain, losses.clip(image, text))
    close = text[:2] + 0.01 * torch.randn(2, 8, generator=g)  # near the true captions of images 0 and 1
    assert lesson.clip_with_text_negatives(image, text, close) > plain + 0.05


def test_gradients_reach_the_embeddings_the_negatives_and_the_scale():
    g = torch.Generator().manual_seed(1)
    args = [torch.randn(k, 4, generator=g, dtype=torch.float64, requires_grad=True) for k in (3, 3, 2)]
    t = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)

    def loss(a, b, c, s):
        return lesson.clip_with_text_negatives(a, b, c, logit_scale=s)

    assert torch.autograd.gradcheck(loss, (*args, t))
    lesson.clip_with_text_negatives(*args, logit_scale=t).backward()
    assert all(a.grad.abs().sum() > 0 for a in args) and t.grad.abs() > 0


@pytest.mark.parametrize(
    ("negatives", "logit_scale", "message"),
    [
        (
            torch.zeros(2, 5),
            10.0,
            r"'negatives' parameter of clip_with_text_negatives must be a tensor \(M, 4\)",
        ),
        (torch.zeros(4), 10.0, "'negatives' parameter"),
        (torch.zeros(2, 4), -1.0, "'logit_scale' parameter"),
    ],
)
def test_clip_with_text_negatives_names_bad_arguments(negatives, logit_scale, message):
    with pytest.raises((ValueError, TypeError), match=message):
        lesson.clip_with_text_negatives(
            torch.randn(3, 4), torch.randn(3, 4), negatives, logit_scale=logit_scale
        )


def test_symmetric_clip_loss_is_losses_clip():
    g = torch.Generator().manual_seed(2)
    image, text = 3 * torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    torch.testing.assert_close(
        lesson.symmetric_clip_loss(image, text, 12.0), losses.clip(image, text, logit_scale=12.0)
    )


# ------------------------------------------------------------ prompts, zero-shot and the swap test


class ColourReader(nn.Module):
    """A model whose answer is known: an image is the one-hot of the colours it shows (by pixel), a
    caption the sum of the one-hots of its colour words. It knows colours and, by construction, no binding."""

    loss_name = "clip"

    def embed_images(self, images):  # (B, 3, H, W) in [0, 1]
        pixels = (images * 255).round().permute(0, 2, 3, 1)[..., None, :]  # (B, H, W, 1, 3)
        present = (pixels == PALETTE.float()).all(-1).flatten(1, 2).any(1)  # (B, colours)
        return present.float() + 1e-3

    def embed_texts(self, tokens):  # (B, L)
        ids = torch.tensor([VOCABULARY.index(c) for c in COLORS])
        return (tokens[..., None] == ids).sum(1).float() + 1e-3  # (B, colours)


def test_prompts_cover_the_vocabulary():
    assert len(lesson.all_prompts()) == 40 and tokenize(lesson.all_prompts()).shape == (40, 4)
    red = lesson.prompts_for("colour", "red")
    assert len(red) == 2 * len(SHAPES) and all(" red " in p for p in red)
    with pytest.raises(ValueError, match="'value' parameter of prompts_for"):
        lesson.prompts_for("colour", "circle")


def test_zero_shot_is_perfect_for_a_colour_reader_and_at_chance_for_shapes():
    scenes = Scenes(300, seed=3)
    model = ColourReader()
    assert lesson.zero_shot_accuracy(model, scenes, "colour") == 1.0
    # every shape's prompt ensemble averages the same colours: one class for all, 1/4 of the truth
    one = scenes.num_objects == 1
    share_first = float((scenes.shapes[one, 0] == 0).float().mean())
    assert lesson.zero_shot_accuracy(model, scenes, "shape") == pytest.approx(share_first, abs=1e-6)


def test_a_bag_of_words_scores_exactly_half_on_the_swap_test():
    assert lesson.swap_preference(ColourReader(), Scenes(200, seed=4)) == 0.5


def test_swapped_tokens_share_the_length_of_the_true_captions_and_only_swap_colours():
    scenes = Scenes(50, seed=5)
    two, tokens = lesson.swapped_tokens(scenes)
    true = tokenize(scenes.captions)[two]
    assert tokens.shape == true.shape and len(two) == int((scenes.num_objects == 2).sum())
    assert (tokens.sort(1).values == true.sort(1).values).all()  # the same words
    assert (tokens != true).any(1).all()  # in another order


def test_recall_table_and_rank_gallery_on_known_embeddings():
    x = torch.eye(12)
    perfect = lesson.recall_table(x, x.clone())
    assert perfect == {d: {1: 1.0, 5: 1.0, 10: 1.0} for d in ("image→text", "text→image")}
    shifted = lesson.recall_table(x, x.roll(1, dims=0))  # caption i sits at row i + 1: never found
    assert shifted["image→text"][1] == shifted["text→image"][1] == 0.0
    scores, ids = lesson.rank_gallery(x, torch.tensor([0.0, 0, 3, 1] + [0] * 8), 2)
    assert ids.tolist() == [2, 3] and scores[0] > scores[1]
    with pytest.raises(ValueError, match="'k' parameter of rank_gallery"):
        lesson.rank_gallery(x, x[0], 13)
    with pytest.raises(ValueError, match="'query' parameter of rank_gallery must be a vector of 12"):
        lesson.rank_gallery(x, torch.ones(6), 2)


def test_softmax_over_batch_sharpens_with_the_scale():
    s = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    soft, sharp = lesson.softmax_over_batch(s, 1.0), lesson.softmax_over_batch(s, 100.0)
    torch.testing.assert_close(soft.sum(1), torch.ones(2))
    assert sharp.diagonal().min() > 0.99 > soft.diagonal().max()


# ------------------------------------------------------------ training helpers


def test_negclip_training_steps_and_moves_the_scale():
    torch.set_num_threads(1)
    scenes = Scenes(120, seed=6)
    model = lesson.build_model(seed=0)
    history = lesson.train_negclip(model, scenes, epochs=2, batch_size=40, seed=0)
    assert len(history) == 6 and history[-1] != pytest.approx(1 / 0.07)
    with pytest.raises(ValueError, match="loss='clip'"):
        lesson.train_negclip(lesson.build_model("siglip"), scenes, epochs=1, batch_size=40)


def test_batch_size_study_gives_every_run_the_same_steps():
    torch.set_num_threads(1)
    rows = lesson.batch_size_study(Scenes(60, seed=7), Scenes(30, seed=8), batches=(4, 16), steps=5)
    assert [(r["loss"], r["batch"]) for r in rows] == [
        ("clip", 4),
        ("clip", 16),
        ("siglip", 4),
        ("siglip", 16),
    ]
    assert all(r["steps"] == 5 and 0 <= r["recall5"] <= 1 for r in rows)


# ------------------------------------------------------------ the checks' logic


def _effects(trained_recall: float, swap: float):
    table = {d: {5: trained_recall} for d in ("image→text", "text→image")}
    random = {d: {5: 0.01} for d in ("image→text", "text→image")}
    study = [dict(loss=loss, batch=b, recall5=0.3) for loss in ("clip", "siglip") for b in (8, 32)]
    return lesson.effects(
        recall=table, random_recall=random, zero_shot={"colour": 0.9, "shape": 0.4},
        swaps={"CLIP": swap, "NegCLIP": 0.8}, study=study,
    )  # fmt: skip


def test_effects_name_each_difference():
    effects = _effects(0.6, 0.65)
    assert effects["recall@5 image→text: trained − random"] == pytest.approx(0.59)
    assert effects["zero-shot colour − chance"] == pytest.approx(0.7)
    assert effects["zero-shot shape − chance"] == pytest.approx(0.15)
    assert effects["swap test: NegCLIP − CLIP"] == pytest.approx(0.15)
    assert effects["recall@5 at N = 8: SigLIP − CLIP"] == 0.0
    assert list(lesson.effects(zero_shot={"colour": 0.2, "shape": 0.25}).values()) == [0.0, 0.0]


def test_check_effect_passes_the_effect_and_fails_a_broken_run():
    lesson.check_effect(_effects(0.6, 0.65), "recall@5 image→text: trained − random", margin=0.3)
    untrained = _effects(0.01, 0.5)  # recall of the random init, a bag of words
    with pytest.raises(AssertionError, match="expected > \\+0.300"):
        lesson.check_effect(untrained, "recall@5 image→text: trained − random", margin=0.3)
    with pytest.raises(AssertionError, match="swap test: CLIP − 50 %"):
        lesson.check_effect(untrained, "swap test: CLIP − 50 %", margin=0.05)
    with pytest.raises(ValueError, match="'name' parameter of check_effect"):
        lesson.check_effect(untrained, "no such effect", margin=0.0)


def test_scale_names_a_bad_mode():
    assert lesson.scale("quick")["batch"] <= lesson.scale("lab")["batch"]
    with pytest.raises(ValueError, match="'mode' parameter of scale"):
        lesson.scale("huge")
