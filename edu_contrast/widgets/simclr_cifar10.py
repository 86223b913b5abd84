"""Notebook 09 (SimCLR on CIFAR-10): the augmentation explorer and the run-comparison plots and table.

The explorer shows what a positive pair is: one image x and several draws x̃ = a(x), a ~ 𝒯, of SimCLR's
augmentation family (Chen et al. 2020, Sec. 3 and Appendix A), drawn by ``lessons.simclr_cifar10``
from the readable per-image pipeline (``augment.per_image``) and from the batched one the training loop
uses (``augment.batched``) — same distribution, two implementations. Sliders set the crop scale and the
colour-distortion strength s:

    a = grayscale(p_g) ∘ jitter(0.8s, 0.8s, 0.8s, 0.2s; p = 0.8) ∘ flip(½) ∘ crop(scale ∈ [s_min, 1])

Every drawing callback is a plain function of tensors and numbers, tested without a browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from edu_contrast import augment
from edu_contrast._validation import check_int, fail
from edu_contrast.lessons import simclr_cifar10 as lesson

__all__ = [
    "draw_views",
    "plot_image_grid",
    "augmentation_explorer",
    "plot_runs",
    "results_table",
]

RUN_KEYS = ("loss", "knn_accuracy", "positive_cosine", "erank_z")
_TITLES = {
    "loss": "training loss L",
    "knn_accuracy": "kNN accuracy (h)",
    "positive_cosine": "positive cosine (z)",
    "erank_z": "effective rank (z)",
    "seconds": "seconds per epoch",
}


def _show(ax, image: torch.Tensor, title: str | None = None) -> None:
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")  # (3, H, W) → (H, W, 3)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="small")


def draw_views(
    image,
    config: augment.AugmentConfig | None = None,
    *,
    n_views: int = 6,
    seed: int = 0,
    title: str | None = None,
):
    """One image x and ``n_views`` augmented views a(x): top row ``per_image``, bottom row ``batched``."""
    x = lesson.as_image(image, "image", "draw_views")
    per_image, batched = lesson.sample_views(x, config, n_views=n_views, seed=seed)
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
        fail(
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
                _show(ax, lesson.as_image(images[chosen[r]], "images", where), name if r == 0 else None)
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
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3 or len(images) < 1:
        fail(
            "images",
            "augmentation_explorer",
            "an (N, 3, H, W) tensor of RGB images",
            f"{type(images).__name__} of shape {tuple(getattr(images, 'shape', ()))}",
        )
    # continuous_update=False: a mouse drag redraws once, on release, not at every value it passes
    style, once = {"description_width": "150px"}, {"continuous_update": False}
    index = W.IntSlider(0, 0, len(images) - 1, description="image", style=style, **once)
    crop = W.FloatSlider(
        0.2, min=0.05, max=1.0, step=0.05, description="crop scale s_min", style=style, **once
    )
    strength = W.FloatSlider(
        0.5, min=0.0, max=1.25, step=0.05, description="colour strength s", style=style, **once
    )
    gray = W.FloatSlider(0.2, min=0.0, max=1.0, step=0.1, description="grayscale p_g", style=style, **once)
    seed = W.IntSlider(0, 0, 20, description="seed", style=style, **once)
    out = W.Output()

    def redraw(_=None):
        i = index.value
        name = f" — {classes[int(labels[i])]}" if classes is not None and labels is not None else ""
        config = lesson.simclr_augment_config(crop.value, strength.value, gray.value)
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
        fail("histories", where, "a non-empty dict {run name: history}", repr(histories)[:60], TypeError)
    for name, history in histories.items():
        missing = [k for k in keys if not history or k not in history[0]]
        if missing:
            fail(
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
        fail("rows", where, "a non-empty list of dicts", repr(rows)[:60], TypeError)
    lines = [
        "| run | epochs | kNN accuracy | linear-probe accuracy | source |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        missing = {"run", "epochs", "knn", "linear", "source"} - set(row)
        if missing:
            fail(
                "rows",
                where,
                "dicts with run, epochs, knn, linear and source",
                f"a row without {sorted(missing)}",
            )
        for key in ("knn", "linear"):
            value = row[key]
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
                fail(
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
