"""Notebook 15's plots and explorers: the logit scale, recall@k, zero-shot, the swap test, prompts, softmax.

Every function draws what ``lessons.clip`` computed; nothing here trains or measures.
"""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.data.scenes import COLORS, SHAPES, SIZES
from edu_contrast.lessons.clip import rank_gallery, softmax_over_batch
from edu_contrast.widgets._core import live_explorer, log_slider

__all__ = ["plot_logit_scale", "plot_recall", "plot_zero_shot", "plot_swap_test", "plot_batch_study"]
__all__ += ["plot_prompt_ranking", "prompt_explorer", "plot_batch_softmax", "scale_explorer"]


def plot_logit_scale(histories: Mapping[str, list], *, max_scale: float = 100.0):
    """t = e^{t'} after every optimiser step, one line per run, with CLIP's start 1/0.07 and its cap."""
    if not histories or not all(len(h) for h in histories.values()):
        fail("histories", "plot_logit_scale", "a dict {name: list of t per step}", repr(histories)[:60])
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    for name, history in histories.items():
        ax.plot(range(1, len(history) + 1), history, label=name)
    ax.axhline(1 / 0.07, color="grey", ls=":", label="1/0.07 (CLIP's start)")
    ax.axhline(max_scale, color="red", ls="--", lw=1, label=f"cap t = {max_scale:g}")
    ax.set(
        xlabel="optimiser step", ylabel="logit scale t", title="the learned logit scale t = 1/τ", yscale="log"
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_recall(recall: dict, random_recall: dict, *, gallery: int):
    """Recall@k both ways, trained against random initialisation, with chance k / gallery."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, direction in zip(axes, ("image→text", "text→image")):
        if direction not in recall or direction not in random_recall:
            fail("recall", "plot_recall", "lessons.clip.recall_table results", sorted(recall))
        ks = list(recall[direction])
        ax.plot(ks, [recall[direction][k] for k in ks], "o-", label="trained")
        ax.plot(ks, [random_recall[direction][k] for k in ks], "s--", label="random init")
        ax.plot(ks, [k / gallery for k in ks], ":", color="grey", label="chance k/n")
        ax.set(xlabel="k", title=f"{direction} recall@k (n = {gallery})", xticks=ks)
    axes[0].set_ylabel("recall@k")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_zero_shot(accuracy: Mapping[str, Mapping[str, float]], chance: Mapping[str, float]):
    """Zero-shot accuracy per attribute (one bar per model) against chance (a dash per attribute)."""
    attributes = list(chance)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(1, len(accuracy))
    for m, (name, scores) in enumerate(accuracy.items()):
        xs = [a + m * width for a in range(len(attributes))]
        ax.bar(xs, [scores[a] for a in attributes], width, label=name)
    for a, attribute in enumerate(attributes):
        ax.hlines(chance[attribute], a - width / 2, a + 0.8 - width / 2, color="k", ls=":")
    ax.set_xticks([a + 0.4 - width / 2 for a in range(len(attributes))], attributes)
    ax.set(ylim=(0, 1), ylabel="accuracy", title="zero-shot by prompts (dotted: chance)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_swap_test(swaps: Mapping[str, float]):
    """How often each model scores the true caption above the colour-swapped one, against 50 %."""
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    names = list(swaps)
    ax.barh(names, [swaps[n] for n in names], color=["C7" if "random" in n else "C0" for n in names])
    ax.axvline(0.5, color="red", ls="--", label="50 %: a bag of words")
    ax.set(xlim=(0, 1), xlabel="true caption preferred", title="the swapped-binding test")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def plot_batch_study(rows: list):
    """Image→text recall@5 against the batch size N, one line per loss (same steps for every run)."""
    if not rows:
        fail("rows", "plot_batch_study", "lessons.clip.batch_size_study rows", "an empty list")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for loss in dict.fromkeys(row["loss"] for row in rows):
        mine = sorted((row["batch"], row["recall5"]) for row in rows if row["loss"] == loss)
        ax.plot(
            *zip(*mine), "o-", label={"clip": "softmax (CLIP)", "siglip": "sigmoid (SigLIP)"}.get(loss, loss)
        )
    ax.set(
        xscale="log", xlabel="batch size N", ylabel="image→text recall@5", title="small batches, equal steps"
    )
    ax.set_xticks(
        sorted({row["batch"] for row in rows}), [str(b) for b in sorted({r["batch"] for r in rows})]
    )
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_prompt_ranking(images: torch.Tensor, scores: torch.Tensor, ids: torch.Tensor, prompt: str):
    """The gallery images ``ids`` (best first), cosines on top; ``images`` uint8 (n, 3, H, W)."""
    if len(scores) != len(ids) or len(ids) == 0:
        fail("ids", "plot_prompt_ranking", f"as many ids as scores ({len(scores)}), at least one", len(ids))
    fig, axes = plt.subplots(1, len(ids), figsize=(1.3 * len(ids), 1.9), squeeze=False)
    for ax, score, i in zip(axes[0], scores.tolist(), ids.tolist()):
        ax.imshow(images[i].permute(1, 2, 0).numpy())  # (H, W, 3)
        ax.set_title(f"{score:.2f}", fontsize="small")
        ax.axis("off")
    fig.suptitle(f"“{prompt}”: the best-matching gallery images (cosine)", fontsize="small")
    fig.tight_layout()
    return fig


def prompt_explorer(images: torch.Tensor, image_embeddings: torch.Tensor, prompts: Mapping, *, k: int = 8):
    """Dropdowns for size, colour and shape: the prompt "a {size} {colour} {shape}" ranks the gallery.

    ``prompts`` is ``lessons.clip.prompt_table(model)`` ({prompt: text embedding}); ``images`` and
    ``image_embeddings`` are the gallery, row i of each the same scene.
    """
    k = check_int(k, "k", "prompt_explorer")
    if len(images) != len(image_embeddings):
        fail(
            "image_embeddings", "prompt_explorer", f"one row per image ({len(images)})", len(image_embeddings)
        )
    choices = {"size": SIZES, "colour": COLORS, "shape": SHAPES}
    controls = {
        name: widgets.Dropdown(options=list(v), value=v[0], description=name) for name, v in choices.items()
    }

    def draw(size, colour, shape):
        prompt = f"a {size} {colour} {shape}"
        check_choice(prompt, "prompt", "prompt_explorer", prompts)
        scores, ids = rank_gallery(image_embeddings, prompts[prompt], k)
        return plot_prompt_ranking(images, scores, ids, prompt)

    return live_explorer(draw, controls)


def plot_batch_softmax(
    similarities: torch.Tensor, logit_scale: float, batch: int, *, learned: float | None = None
):
    """Left: softmax_j(t·s_ij) over the first N×N block; right: the mean weight on the match against t."""
    batch = check_int(batch, "batch", "plot_batch_softmax", minimum=2)
    if batch > len(similarities):
        fail("batch", "plot_batch_softmax", f"<= {len(similarities)}", batch)
    s = similarities[:batch, :batch]  # (N, N), matches on the diagonal
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    shown = left.imshow(softmax_over_batch(s, logit_scale).numpy(), vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(shown, ax=left, fraction=0.046)
    left.set(
        xlabel="caption j",
        ylabel="image i",
        title=f"softmax over the batch, t = {logit_scale:.3g}, N = {batch}",
    )
    scales = torch.logspace(0, 2, 60)
    on_match = [float(softmax_over_batch(s, float(t)).diagonal().mean()) for t in scales]
    right.plot(scales, on_match, label="mean p(match)")
    right.axhline(1 / batch, color="grey", ls=":", label="1/N (uniform)")
    right.axvline(logit_scale, color="red", lw=1, label="chosen t")
    if learned is not None:
        right.axvline(learned, color="k", ls="--", lw=1, label="learned t")
    right.set(xscale="log", xlabel="logit scale t", ylabel="weight on the true caption", ylim=(0, 1))
    right.legend(fontsize="x-small")
    fig.tight_layout()
    return fig


def scale_explorer(similarities: torch.Tensor, *, learned: float | None = None, batch: int = 16):
    """Move t (log slider) and N: how sharply each image's softmax picks its caption among N."""
    batch = min(check_int(batch, "batch", "scale_explorer", minimum=2), len(similarities))
    controls = {
        "logit_scale": log_slider(learned or 1 / 0.07, 0, 2, "t", step=0.1),
        "batch": widgets.IntSlider(value=batch, min=2, max=min(64, len(similarities)), description="batch N",
                                   continuous_update=False),
    }  # fmt: skip

    def draw(logit_scale, batch):
        return plot_batch_softmax(similarities, logit_scale, batch, learned=learned)

    return live_explorer(draw, controls)
