r"""Notebook 15: CLIP in miniature — two towers, a learnable logit scale, retrieval, zero-shot, bags of words.

Scenes of coloured shapes and their template captions (``data.Scenes``) train an image tower and a text tower
(``methods.CLIP``) so that matching pairs have close unit embeddings x̂_i, ŷ_i; s_ij = x̂_i · ŷ_j.

* **retrieval**: image→text recall@k = the fraction of images whose own caption is among the k captions of
  largest s_ij (text→image: the same on sᵀ), against the same architecture at random initialisation;
* **zero-shot** (Radford et al. 2021, Sec. 3.1): a class is the mean embedding of its prompts ("a small red
  circle", "a large red cross", … for "red"), an image is given the class of largest cosine;
* **softmax against sigmoid at small batches** (Zhai et al. 2023): ``losses.clip`` and ``losses.siglip`` with
  a few batch sizes N at the same number of optimiser steps;
* **the bag-of-words test** (Yuksekgonul et al. 2023): how often s(image, caption) > s(image, caption with
  the two colours swapped), and how NegCLIP's hard negatives (the swapped captions added to the batch as
  extra texts, ``clip_with_text_negatives``) change it.

Check cells: ``check_effect(effects(...), name, margin=...)``, margins from docs/check_margins.md's sweep.
"""

from __future__ import annotations

import itertools
import time

import torch
import torch.nn.functional as F

from edu_contrast import data, methods, models
from edu_contrast._validation import check_choice, check_embeddings, check_int, check_temperature, fail
from edu_contrast.data.scenes import COLORS, SHAPES, SIZES, swapped_caption, tokenize
from edu_contrast.lessons._checks import check_effect  # noqa: F401 (the check cells call lesson.check_effect)
from edu_contrast.retrieval import retrieval_recall
from edu_contrast.utils import MODES

_SCALES = {  # every size and budget of the notebook, per mode
    "quick": dict(train=1500, test=400, epochs=5, batch=100, small_batches=(8, 32), small_steps=120),
    "lab": dict(train=6000, test=1000, epochs=10, batch=128, small_batches=(4, 16, 64), small_steps=600),
    "full": dict(train=50_000, test=5000, epochs=30, batch=512, small_batches=(4, 8, 16, 64, 256),
                 small_steps=5000),
}  # fmt: skip
LR, WEIGHT_DECAY = 2e-3, 0.1  # methods.train_clip's defaults
KS = (1, 5, 10)


def scale(mode: str) -> dict:
    """The sizes of a run in ``mode`` ("quick", "lab", "full"): scenes, epochs, batches, small-batch steps."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def load_scenes(mode: str, *, seed: int = 0) -> tuple[data.Scenes, data.Scenes]:
    """``(train, test)`` scene sets of ``scale(mode)``'s sizes: drawn with ``seed`` and ``seed + 1000``."""
    size = scale(mode)
    return data.Scenes(size["train"], seed=seed), data.Scenes(size["test"], seed=seed + 1000)


def build_model(loss: str = "clip", *, seed: int = 0) -> methods.CLIP:
    """The two towers: ``SmallConvNet(3)`` (width 16) and a one-layer ``TextEncoder``, into a 32-d space."""
    torch.manual_seed(check_int(seed, "seed", "build_model", minimum=0))
    image_encoder = models.SmallConvNet(3, feature_dim=64, width=16, last_kernel=1)
    text_encoder = models.TextEncoder(len(data.VOCABULARY), feature_dim=32, depth=1, heads=2)
    return methods.CLIP(image_encoder, text_encoder, embed_dim=32, loss=loss)


def train_model(model: methods.CLIP, scenes: data.Scenes, *, epochs: int, batch_size: int, seed: int = 0):
    """``methods.train_clip`` on the scenes and their captions; returns t = e^{t'} after every step."""
    tokens = tokenize(scenes.captions)  # (N, L)
    return methods.train_clip(model, scenes.images, tokens, epochs=epochs, batch_size=batch_size, seed=seed)


@torch.no_grad()
def embed(model: methods.CLIP, scenes: data.Scenes) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂, ŷ): unit image and caption embeddings of every scene, ``(n, embed_dim)`` each, in eval mode."""
    model.eval()
    return model.embed_images(scenes.images.float() / 255), model.embed_texts(tokenize(scenes.captions))


def recall_table(x: torch.Tensor, y: torch.Tensor, ks=KS) -> dict:
    """Recall@k both ways for matching rows: ``{"image→text": {k: r}, "text→image": {k: r}}``.

    image→text: query x̂_i, gallery every ŷ_j, correct j = i (scores s = x̂ŷᵀ); text→image uses sᵀ.
    Chance is k / n.
    """
    s = x @ y.T  # (n, n): s_ij, matches on the diagonal
    targets = torch.arange(len(s))
    return {
        "image→text": {k: retrieval_recall(s, targets, k) for k in ks},
        "text→image": {k: retrieval_recall(s.T, targets, k) for k in ks},
    }


# ----------------------------------------------------------------------------- zero-shot by prompts

ATTRIBUTES = {"colour": COLORS, "shape": SHAPES, "size": SIZES}


def prompts_for(attribute: str, value: str) -> list[str]:
    """Every one-object prompt "a {size} {colour} {shape}" with ``attribute`` = ``value`` (the ensemble)."""
    names = check_choice(attribute, "attribute", "prompts_for", ATTRIBUTES)
    check_choice(value, "value", "prompts_for", ATTRIBUTES[names])
    chosen = {"colour": COLORS, "shape": SHAPES, "size": SIZES}
    chosen[attribute] = (value,)
    return [
        f"a {s} {c} {h}" for s, c, h in itertools.product(chosen["size"], chosen["colour"], chosen["shape"])
    ]


@torch.no_grad()
def prompt_embeddings(model: methods.CLIP, attribute: str) -> torch.Tensor:
    """One unit class embedding per value of ``attribute``: the normalised mean of its prompts' ŷ.

    Radford et al. 2021 (Sec. 3.1.4) average the text embeddings of many prompts per class ("prompt
    ensembling"); here the prompts are every size, colour and shape the class leaves free. Shape
    ``(len(ATTRIBUTES[attribute]), embed_dim)``.
    """
    model.eval()
    means = [model.embed_texts(tokenize(prompts_for(attribute, v))).mean(0) for v in ATTRIBUTES[attribute]]
    return F.normalize(torch.stack(means), dim=1)  # (classes, embed_dim)


@torch.no_grad()
def zero_shot_accuracy(model: methods.CLIP, scenes: data.Scenes, attribute: str) -> float:
    """Accuracy of the prompt classifier on the one-object scenes: argmax_c x̂ · w_c against the truth.

    Chance is 1 / (number of values): 0.2 for colour, 0.25 for shape, 0.5 for size.
    """
    column = {"colour": scenes.colors, "shape": scenes.shapes, "size": scenes.sizes}[attribute]
    one = (scenes.num_objects == 1).nonzero()[:, 0]  # (m,) the one-object scenes
    model.eval()
    x = model.embed_images(scenes.images[one].float() / 255)  # (m, embed_dim)
    predicted = (x @ prompt_embeddings(model, attribute).T).argmax(1)  # (m,)
    return float((predicted == column[one, 0]).float().mean())


def all_prompts() -> list[str]:
    """Every one-object prompt of the closed vocabulary, "a {size} {colour} {shape}": 2 × 5 × 4 = 40."""
    return [f"a {s} {c} {h}" for s, c, h in itertools.product(SIZES, COLORS, SHAPES)]


@torch.no_grad()
def prompt_table(model: methods.CLIP) -> dict:
    """{prompt: ŷ} for ``all_prompts()``: the text embeddings the prompt explorer ranks a gallery with."""
    model.eval()
    prompts = all_prompts()
    return dict(zip(prompts, model.embed_texts(tokenize(prompts))))


def rank_gallery(
    image_embeddings: torch.Tensor, query: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, ids) of the k gallery images of largest cosine with the text embedding ``query``, best first.

    ``image_embeddings`` ``(n, d)``, ``query`` ``(d,)``; both are normalised here."""
    check_embeddings(image_embeddings, "image_embeddings", "rank_gallery")
    k = check_int(k, "k", "rank_gallery")
    if k > len(image_embeddings):
        fail("k", "rank_gallery", f"<= the gallery's {len(image_embeddings)} images", k)
    if not isinstance(query, torch.Tensor) or query.numel() != image_embeddings.shape[1]:
        got = f"shape {tuple(query.shape)}" if isinstance(query, torch.Tensor) else type(query).__name__
        fail(
            "query",
            "rank_gallery",
            f"a vector of {image_embeddings.shape[1]} numbers (one text embedding)",
            got,
        )
    scores = F.normalize(image_embeddings, dim=1) @ F.normalize(query.reshape(-1), dim=0)  # (n,)
    top = torch.topk(scores, k)
    return top.values, top.indices


# ----------------------------------------------------------------------------- the bag-of-words test


def swapped_tokens(scenes: data.Scenes) -> tuple[torch.Tensor, torch.Tensor]:
    """``(two, tokens)``: the two-object scenes' indices ``(m,)`` and their colour-swapped captions
    ``(m, L)``, padded to the length of ``tokenize(scenes.captions)`` to share a batch with the true ones."""
    two = (scenes.num_objects == 2).nonzero()[:, 0]  # (m,)
    length = tokenize(scenes.captions).shape[1]
    return two, tokenize([swapped_caption(scenes, i) for i in two.tolist()], length=length)


@torch.no_grad()
def swap_preference(model: methods.CLIP, scenes: data.Scenes) -> float:
    """The fraction of two-object scenes whose image scores its true caption above the swapped one.

    s(x̂_i, ŷ_true) > s(x̂_i, ŷ_swapped): 0.5 is a bag of words (the same words in both captions); 1 is a
    model that binds each colour to its shape. Ties count as a half.
    """
    two, swapped = swapped_tokens(scenes)
    model.eval()
    x = model.embed_images(scenes.images[two].float() / 255)  # (m, d)
    true = (x * model.embed_texts(tokenize(scenes.captions)[two])).sum(1)  # (m,)
    wrong = (x * model.embed_texts(swapped)).sum(1)  # (m,)
    return float(((true > wrong).float() + 0.5 * (true == wrong).float()).mean())


def clip_with_text_negatives(image, text, negatives, *, logit_scale=1 / 0.07) -> torch.Tensor:
    r"""CLIP's loss with M extra captions that match no image (NegCLIP, Yuksekgonul et al. 2023, Sec. 5).

        image→text:  ℓ_i = −log  e^{t s_ii} / ( Σ_j e^{t s_ij} + Σ_m e^{t x̂_i·n̂_m} )
        text→image:  ℓ'_j = −log  e^{t s_jj} / Σ_i e^{t s_ij}          (the negatives are not images)
        L = ½ [ mean_i ℓ_i + mean_j ℓ'_j ]

    Every image sees every extra caption (they join the batch's texts, as in NegCLIP); with M = 0 this is
    ``losses.clip``. Hard negatives in the sense of notebook 13 (Robinson et al. 2021): captions that are
    close to the true one, here the same words with the colours swapped.

    Args:
        image: x, ``(N, d)``; text: y, ``(N, d)``, row i describes image i.
        negatives: n, ``(M, d)`` embeddings of captions that describe none of the N images (M ≥ 0).
        logit_scale: t > 0, a number or a one-element tensor (it receives ∂L/∂t).
    """
    where = "clip_with_text_negatives"
    t = check_temperature(logit_scale, "logit_scale", where)
    check_embeddings(image, "image", where, min_rows=2)
    check_embeddings(text, "text", where, min_rows=2)
    if (
        not isinstance(negatives, torch.Tensor)
        or negatives.dim() != 2
        or negatives.shape[1] != image.shape[1]
    ):
        got = f"shape {tuple(negatives.shape)}" if isinstance(negatives, torch.Tensor) else type(negatives)
        fail("negatives", where, f"a tensor (M, {image.shape[1]}) (M may be 0)", got)
    if text.shape != image.shape:
        fail("text", where, f"the shape of 'image' {tuple(image.shape)}", f"shape {tuple(text.shape)}")
    dtype = torch.promote_types(image.dtype, torch.float32)  # half precision computes in float32
    x, y = F.normalize(image.to(dtype), dim=1), F.normalize(text.to(dtype), dim=1)  # (N, d) each
    n_hat = F.normalize(negatives.to(dtype), dim=1)  # (M, d)
    logits = t * torch.cat([x @ y.T, x @ n_hat.T], dim=1)  # (N, N + M): captions, then the negatives
    labels = torch.arange(len(x), device=x.device)
    image_to_text = F.cross_entropy(logits, labels)
    text_to_image = F.cross_entropy(logits[:, : len(x)].T, labels)  # (N, N) columns: images only
    return (image_to_text + text_to_image) / 2


def train_negclip(model: methods.CLIP, scenes: data.Scenes, *, epochs: int, batch_size: int, seed: int = 0):
    """``methods.train_clip``'s loop with ``clip_with_text_negatives`` (NegCLIP): each batch's two-object
    scenes add their colour-swapped captions as extra texts. Same order of pairs, optimiser and clamp;
    returns t per step."""
    where = "train_negclip"
    if model.loss_name != "clip":
        fail("model", where, "a CLIP model with loss='clip'", f"loss={model.loss_name!r}")
    tokens = tokenize(scenes.captions)  # (N, L)
    two, swapped = swapped_tokens(scenes)
    row_of = torch.full((len(scenes),), -1, dtype=torch.int64)
    row_of[two] = torch.arange(len(two))  # scene index → row of `swapped`, −1 for one-object scenes
    optimizer = methods.clip.adamw(model, LR, WEIGHT_DECAY)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", where, minimum=0))
    history = []
    model.train()
    for _ in range(check_int(epochs, "epochs", where)):
        order = torch.randperm(len(scenes), generator=generator)
        for start in range(0, len(scenes) - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]  # (B,)
            rows = row_of[batch][row_of[batch] >= 0]  # (M,) the batch's swapped captions
            x = model.embed_images(scenes.images[batch].float() / 255)  # (B, d)
            y = model.embed_texts(torch.cat([tokens[batch], swapped[rows]]))  # (B + M, d)
            loss = clip_with_text_negatives(
                x, y[:batch_size], y[batch_size:], logit_scale=model.logit_scale()
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.logit_scale.clamp_()
            history.append(model.logit_scale().item())
    model.eval()
    return history


# ----------------------------------------------------------------------------- softmax vs sigmoid, small N


def batch_size_study(train: data.Scenes, test: data.Scenes, *, batches, steps: int, seed: int = 0) -> list:
    """CLIP and SigLIP at each batch size N, each for the same ``steps`` optimiser steps (not epochs).

    A run takes ``steps / epochs`` batches of a random subset of ``train``, ``epochs`` times over, with
    ``epochs`` the fewest passes that fit (a divisor of ``steps``): the small batches see fewer pairs.

    Returns rows ``{"loss", "batch", "steps", "recall@5", "seconds"}`` (image→text recall@5 on ``test``).
    """
    rows = []
    for loss, batch in itertools.product(("clip", "siglip"), batches):
        model = build_model(loss, seed=seed)
        epochs = -(-steps * batch // len(train))  # ceil: the fewest passes over the data `steps` need
        while steps % epochs:  # a divisor of steps, so that epochs · per_epoch = steps exactly
            epochs += 1
        per_epoch = steps // epochs
        subset = train.subset(per_epoch * batch, generator=torch.Generator().manual_seed(seed))
        start = time.perf_counter()
        history = train_model(model, subset, epochs=epochs, batch_size=batch, seed=seed)
        x, y = embed(model, test)
        rows.append(
            dict(loss=loss, batch=batch, steps=len(history), seconds=time.perf_counter() - start,
                 recall5=recall_table(x, y, ks=(5,))["image→text"][5])
        )  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- the exercise and the explorer


def symmetric_clip_loss(image, text, logit_scale):
    """L = ½ [CE(t·s, arange N) over rows + CE over columns], s_ij = x̂_i·ŷ_j: the exercise's reference."""
    x = image / image.norm(dim=1, keepdim=True)  # (N, d) unit rows
    y = text / text.norm(dim=1, keepdim=True)  # (N, d)
    logits = logit_scale * x @ y.T  # (N, N): t · s_ij, the matches on the diagonal
    labels = torch.arange(len(x))
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def softmax_over_batch(similarities: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """softmax_j(t·s_ij) per row: how image i spreads its choice over the N captions of its batch."""
    t = check_temperature(logit_scale, "logit_scale", "softmax_over_batch")
    return torch.softmax(t * similarities, dim=1)  # (N, N)


def effects(*, recall=None, random_recall=None, zero_shot=None, swaps=None, study=None) -> dict:
    """The notebook's effects, each a difference that is > 0 when the taught effect is there.

    Each section passes what it measured, and gets the effects those numbers give: ``recall`` and
    ``random_recall`` (``recall_table`` of the trained and the untrained model, together); ``zero_shot``
    {"colour": acc, "shape": acc}; ``swaps`` {"CLIP": …, "NegCLIP": …} (``swap_preference``); ``study``
    (``batch_size_study``'s rows: at the smallest batch, SigLIP − CLIP).
    """
    found = {}
    if recall is not None and random_recall is not None:
        for direction in ("image→text", "text→image"):
            found[f"recall@5 {direction}: trained − random"] = (
                recall[direction][5] - random_recall[direction][5]
            )
    if zero_shot is not None:
        found["zero-shot colour − chance"] = zero_shot["colour"] - 1 / len(COLORS)
        found["zero-shot shape − chance"] = zero_shot["shape"] - 1 / len(SHAPES)
    if swaps is not None:
        found["swap test: CLIP − 50 %"] = swaps["CLIP"] - 0.5
        found["swap test: NegCLIP − CLIP"] = swaps["NegCLIP"] - swaps["CLIP"]
    if study:
        smallest = min(row["batch"] for row in study)
        at_smallest = {row["loss"]: row["recall5"] for row in study if row["batch"] == smallest}
        found[f"recall@5 at N = {smallest}: SigLIP − CLIP"] = at_smallest["siglip"] - at_smallest["clip"]
    return found
