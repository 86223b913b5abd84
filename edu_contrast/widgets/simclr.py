"""Notebook 09 (SimCLR on CIFAR-10): the augmentation explorer and the run-comparison plots and table.

The explorer shows what a positive pair is: one image x and several draws x̃ = a(x), a ~ 𝒯, of SimCLR's
augmentation family (Chen et al. 2020, Sec. 3 and Appendix A), from the readable per-image pipeline
(``augment.per_image``, torchvision) and from the batched one the training loop uses
(``augment.batched``, whole batches on the GPU) — same distribution, two implementations. Sliders set the
crop scale and the colour-distortion strength s:

    a = grayscale(p_g) ∘ jitter(0.8s, 0.8s, 0.8s, 0.2s; p = 0.8) ∘ flip(½) ∘ crop(scale ∈ [s_min, 1])

Every drawing callback is a plain function of tensors and numbers, tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from edu_contrast import augment
from edu_contrast._validation import _fail, check_int, check_positive

__all__ = [
    "simclr_augment_config",
    "sample_views",
    "draw_views",
    "plot_image_grid",
    "augmentation_explorer",
    "plot_runs",
    "results_table",
]

RUN_KEYS = ("loss", "knn_accuracy", "positive_cosine", "effective_rank")
_TITLES = {
    "loss": "training loss L",
    "knn_accuracy": "kNN accuracy (h)",
    "positive_cosine": "positive cosine (z)",
    "effective_rank": "effective rank (z)",
    "seconds": "seconds per epoch",
}


def simclr_augment_config(
    crop_min_scale: float = 0.2, color_strength: float = 0.5, grayscale_p: float = 0.2
) -> augment.AugmentConfig:
    """SimCLR's 𝒯 with colour-distortion strength s (Chen et al. 2020, Appendix A).

    ``crop_min_scale`` is s_min (the crop keeps an area fraction in [s_min, 1]); ``color_strength`` is s,
    giving brightness, contrast and saturation jitter 0.8s and hue jitter 0.2s, applied with
    probability 0.8; ``grayscale_p`` is p_g. s = 0.5 and s_min = 0.2 are the CIFAR-10 defaults
    (``AugmentConfig()``); s ≤ 1.25 keeps the jitter factors 1 ± 0.8s non-negative.
    """
    where = "simclr_augment_config"
    crop_min_scale = check_positive(crop_min_scale, "crop_min_scale", where)
    if crop_min_scale > 1:
        _fail("crop_min_scale", where, "in (0, 1]", crop_min_scale)
    s = check_positive(color_strength, "color_strength", where, allow_zero=True)
    if s > 1.25:
        _fail("color_strength", where, "in [0, 1.25] (0.8·s is a jitter factor ≤ 1)", s)
    grayscale_p = check_positive(grayscale_p, "grayscale_p", where, allow_zero=True)
    if grayscale_p > 1:
        _fail("grayscale_p", where, "a probability in [0, 1]", grayscale_p)
    return augment.AugmentConfig(
        crop_scale=(crop_min_scale, 1.0),
        brightness=0.8 * s,
        contrast=0.8 * s,
        saturation=0.8 * s,
        hue=0.2 * s,
        grayscale_p=grayscale_p,
    )


def _as_image(image, name: str, where: str) -> torch.Tensor:
    """A float (3, H, W) image in [0, 1] from a uint8 or float tensor or array."""
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(image)
    if not isinstance(image, torch.Tensor):
        _fail(name, where, "a (3, H, W) image tensor", f"an object of type {type(image).__name__}", TypeError)
    if image.dim() != 3 or image.shape[0] != 3:
        _fail(name, where, "a (3, H, W) RGB image", f"shape {tuple(image.shape)}")
    return image.float().div(255) if image.dtype == torch.uint8 else image.float().clamp(0, 1)


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")  # (3, H, W) → (H, W, 3)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")


def sample_views(
    image, config: augment.AugmentConfig | None = None, *, n_views: int = 6, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_views`` draws a(x) from ``per_image`` and from ``batched``: two ``(n_views, 3, H, W)`` tensors.

    Seeded and isolated: the notebook's random state is the same before and after.
    """
    where = "sample_views"
    x = _as_image(image, "image", where)  # (3, H, W)
    n_views = check_int(n_views, "n_views", where)
    size = x.shape[-1]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        one = augment.per_image(size, 3, config)
        per_image = torch.stack([one(x) for _ in range(n_views)])  # (n_views, 3, H, W)
        batched = augment.batched(size, 3, config)(x.expand(n_views, -1, -1, -1).contiguous())
    return per_image, batched


def draw_views(
    image,
    config: augment.AugmentConfig | None = None,
    *,
    n_views: int = 6,
    seed: int = 0,
    title: str | None = None,
):
    """One image x and ``n_views`` augmented views a(x): top row ``per_image``, bottom row ``batched``."""
    x = _as_image(image, "image", "draw_views")
    per_image, batched = sample_views(x, config, n_views=n_views, seed=seed)
    fig, axes = plt.subplots(2, n_views + 1, figsize=(1.3 * (n_views + 1), 3.0), squeeze=False)
    for row, (views, name) in enumerate(((per_image, "per_image"), (batched, "batched"))):
        _show(axes[row, 0], x, "x (original)")
        axes[row, 0].set_ylabel(name, fontsize="small")
        for j, view in enumerate(views):
            _show(axes[row, j + 1], view, f"a{j + 1}(x)" if row == 0 else None)
    fig.suptitle(title or "Positive pairs: any two views of the same x", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_image_grid(
    images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], *, per_class: int = 2
):
    """``per_class`` examples of each class, one column per class (uint8 or float ``(N, 3, H, W)``)."""
    where = "plot_image_grid"
    per_class = check_int(per_class, "per_class", where)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) != len(labels):
        _fail(
            "images",
            where,
            "an (N, 3, H, W) tensor with one label per image",
            f"{type(images).__name__} of shape {tuple(getattr(images, 'shape', ()))}",
        )
    fig, axes = plt.subplots(
        per_class, len(classes), figsize=(1.1 * len(classes), 1.2 * per_class + 0.3), squeeze=False
    )
    for c, name in enumerate(classes):
        chosen = torch.nonzero(torch.as_tensor(labels) == c).flatten()[:per_class]
        for r in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(chosen):
                _show(ax, _as_image(images[chosen[r]], "images", where), name if r == 0 else None)
    fig.tight_layout()
    return fig


def augmentation_explorer(
    images: torch.Tensor,
    *,
    classes: Sequence[str] | None = None,
    labels: torch.Tensor | None = None,
    n_views: int = 6,
):
    """Sliders over the image, s_min, s, p_g and the seed; one ``Output`` redrawn with ``draw_views``.

    ``images``: uint8 or float ``(N, 3, H, W)``. Returns an ``ipywidgets.VBox`` (display it in a cell).
    """
    import ipywidgets as W
    from IPython.display import display

    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 or len(images) < 1:
        _fail(
            "images",
            "augmentation_explorer",
            "an (N, 3, H, W) tensor of RGB images",
            f"{type(images).__name__} of shape {tuple(getattr(images, 'shape', ()))}",
        )
    style = {"description_width": "150px"}
    index = W.IntSlider(0, 0, len(images) - 1, description="image", style=style)
    crop = W.FloatSlider(0.2, min=0.05, max=1.0, step=0.05, description="crop scale s_min", style=style)
    strength = W.FloatSlider(0.5, min=0.0, max=1.25, step=0.05, description="colour strength s", style=style)
    gray = W.FloatSlider(0.2, min=0.0, max=1.0, step=0.1, description="grayscale p_g", style=style)
    seed = W.IntSlider(0, 0, 20, description="seed", style=style)
    out = W.Output()

    def redraw(_=None):
        i = index.value
        name = f" — {classes[int(labels[i])]}" if classes is not None and labels is not None else ""
        config = simclr_augment_config(crop.value, strength.value, gray.value)
        with out:
            out.clear_output(wait=True)
            fig = draw_views(
                images[i],
                config,
                n_views=n_views,
                seed=seed.value,
                title=f"image {i}{name}: s_min = {crop.value:.2f}, s = {strength.value:.2f}, "
                f"p_g = {gray.value:.1f}",
            )
            display(fig)
            plt.close(fig)

    for control in (index, crop, strength, gray, seed):
        control.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox([W.VBox([index, seed]), W.VBox([crop, strength, gray])]), out])


def plot_runs(histories: Mapping[str, Sequence[Mapping]], keys: Sequence[str] = RUN_KEYS):
    """Per-epoch curves of several runs (``train.fit``'s histories), one subplot per key, one line per run."""
    where = "plot_runs"
    if not isinstance(histories, Mapping) or not histories:
        _fail("histories", where, "a non-empty dict {run name: history}", repr(histories)[:60], TypeError)
    for name, history in histories.items():
        missing = [k for k in keys if not history or k not in history[0]]
        if missing:
            _fail(
                "histories", where, f"histories with the keys {list(keys)}", f"run {name!r} without {missing}"
            )
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, history in histories.items():
            ax.plot(
                [h["epoch"] for h in history], [h[key] for h in history], marker="o", markersize=3, label=name
            )
        ax.set(title=_TITLES.get(key, key), xlabel="epoch")
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _percent(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * float(value):.1f} %"


def results_table(rows: Sequence[Mapping]) -> str:
    """A Markdown table of runs: name, epochs, kNN and linear-probe accuracy, and where the number is from.

    Each row: ``{"run": str, "epochs": int | str, "knn": float | None, "linear": float | None,
    "source": str}``; accuracies are fractions in [0, 1] (None prints "—").
    """
    where = "results_table"
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or not rows:
        _fail("rows", where, "a non-empty list of dicts", repr(rows)[:60], TypeError)
    lines = [
        "| run | epochs | kNN accuracy | linear-probe accuracy | source |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        missing = {"run", "epochs", "knn", "linear", "source"} - set(row)
        if missing:
            _fail(
                "rows",
                where,
                "dicts with run, epochs, knn, linear and source",
                f"a row without {sorted(missing)}",
            )
        for key in ("knn", "linear"):
            value = row[key]
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
                _fail(
                    "rows",
                    where,
                    f"'{key}' as a fraction in [0, 1] or None",
                    f"{value!r} in run {row['run']!r}",
                )
        lines.append(
            f"| {row['run']} | {row['epochs']} | {_percent(row['knn'])} | {_percent(row['linear'])} "
            f"| {row['source']} |"
        )
    return "\n".join(lines)
