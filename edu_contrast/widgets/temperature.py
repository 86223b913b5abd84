"""Notebook 02 explorer: what the temperature τ does to the softmax over negatives and to the gradient.

For one anchor with positive similarity s⁺ and negatives s⁻_1 … s⁻_M, InfoNCE pushes negative k away with
the weight ∂ℓ/∂s⁻_k = p_k / τ, p_k = exp(s⁻_k/τ) / (exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)) (Wang & Liu 2021). The
numbers come from ``lessons.temperature``; this module only draws them. ``temperature_explorer()`` has
sliders for τ and the batch size N (M = 2N − 2 negatives, as in NT-Xent) over one fixed batch.
"""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.lessons import temperature as lesson
from edu_contrast.widgets._core import live_explorer, log_slider

__all__ = [
    "plot_temperature",
    "temperature_explorer",
    "plot_temperature_sweep",
    "plot_views",
    "views_explorer",
]


def plot_temperature(
    temperature: float = 0.2, batch_size: int = 128, *, similarities=None, hardest: float = 0.05
):
    r"""Two panels for one anchor: the weight p_k of every negative against its similarity, and the share of
    the gradient on the hardest negatives (cumulative, hardest first), at temperature τ and batch size N.

    ``similarities`` = ``(positive, negatives)`` of a full ``MAX_BATCH_SIZE`` batch (default
    ``lesson.similarity_batch()``); the first 2N − 2 negatives are used.
    """
    where = "plot_temperature"
    temperature = check_positive(temperature, "temperature", where)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    positive, pool = similarities if similarities is not None else lesson.similarity_batch()
    if 2 * batch_size - 2 > pool.shape[-1]:
        fail("batch_size", where, f"<= {pool.shape[-1] // 2 + 1} for these similarities", batch_size)
    negatives = pool[: 2 * batch_size - 2]  # (M,) M = 2N − 2
    stats = lesson.temperature_summary(positive, negatives, temperature, hardest=hardest)
    push = lesson.push_share(positive, negatives, temperature)
    p, fraction, share = (push[key].numpy() for key in ("weights", "fraction", "share"))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    left.scatter(negatives.numpy(), p, s=10, color="tab:blue", label="negatives $p_k$")
    left.scatter(
        [float(positive)],
        [max(stats["positive_weight"], 1e-6)],
        marker="*",
        s=150,
        color="tab:red",
        zorder=3,
        label=f"positive: $s^+$ = {float(positive):.2f}, $p^+$ = {stats['positive_weight']:.2f}",
    )
    left.set_yscale("log")
    left.set_ylim(1e-6, 1.0)  # fixed, so the slope 1/τ of log p_k against s⁻_k can be compared
    left.set(
        xlabel="similarity $s^-_k$ of the negative",
        ylabel="softmax weight $p_k$ = τ·∂ℓ/∂$s^-_k$",
        title=f"τ = {temperature:.3f}, N = {batch_size} (M = {len(p)} negatives), "
        f"loss ℓ = {stats['loss']:.2f}",
    )
    left.legend(fontsize="small", loc="lower right")
    right.plot(fraction, share, color="tab:blue", label="share of the push, hardest first")
    right.plot([0, 1], [0, 1], "k:", label="every negative equal")
    right.axvline(
        hardest,
        color="tab:orange",
        linestyle="--",
        label=f"hardest {hardest:.0%}: {stats['hardest_share']:.0%} of the push",
    )
    right.set(
        xlabel="fraction of negatives, most similar first",
        ylabel="cumulative share of Σ p_k",
        xlim=(0, 1),
        ylim=(0, 1.02),
        title=f"entropy H(π) = {stats['entropy']:.2f} nats = {stats['entropy_ratio']:.0%} of log M",
    )
    right.legend(fontsize="small", loc="lower right")
    return fig


def temperature_explorer(temperature: float = 0.2, batch_size: int = 128, *, seed: int = 0):
    """Sliders "τ" (log scale, 0.01–1) and "batch N" (8–1024) over ``plot_temperature`` on one fixed batch."""
    similarities = lesson.similarity_batch(seed=seed)
    style = {"description_width": "initial"}
    controls = {
        "temperature": log_slider(temperature, -2, 0, "τ", step=0.05, readout_format=".3f"),
        "batch_size": widgets.IntSlider(
            value=batch_size,
            min=8,
            max=lesson.MAX_BATCH_SIZE,
            step=8,
            description="batch N",
            continuous_update=False,
            style=style,
        ),
    }
    draw = lambda temperature, batch_size: plot_temperature(
        temperature, batch_size, similarities=similarities
    )
    return live_explorer(draw, controls)


_SWEEP_PANELS = (
    ("alignment", "alignment $L_{align}$ (lower: positives closer)"),
    ("uniformity", "uniformity $L_{uniform}$ (lower: more uniform)"),
    ("erank_z", "effective rank of z"),
    (("knn_accuracy", "linear_accuracy"), "probe accuracy on h"),
)


def plot_temperature_sweep(rows):
    """Four panels against τ (log axis): alignment, uniformity, effective rank, kNN and linear accuracy.

    ``rows`` is a list of dicts with the key ``temperature`` and the keys of ``_SWEEP_PANELS`` (one dict
    per trained model, as built in notebook 02).
    """
    where = "plot_temperature_sweep"
    if not rows or not all(isinstance(r, dict) and "temperature" in r for r in rows):
        fail("rows", where, "a non-empty list of dicts with a 'temperature' key", repr(rows)[:80])
    rows = sorted(rows, key=lambda r: r["temperature"])
    tau = [r["temperature"] for r in rows]
    fig, axes = plt.subplots(1, len(_SWEEP_PANELS), figsize=(15, 3.4), layout="constrained")
    for ax, (keys, title) in zip(axes, _SWEEP_PANELS):
        for key in (keys,) if isinstance(keys, str) else keys:
            if key not in rows[0]:
                fail("rows", where, f"dicts with the key {key!r}", f"keys {sorted(rows[0])}")
            ax.plot(tau, [r[key] for r in rows], "o-", label=key.replace("_", " "))
        ax.set_xscale("log")
        ax.set(xlabel="temperature τ", title=title)
        if not isinstance(keys, str):
            ax.legend(fontsize="small")
    return fig


def _unit(images) -> torch.Tensor:
    """uint8 images (a dataset's ``.images``) as floats in [0, 1], what the augmentation takes."""
    images = torch.as_tensor(images)
    return images.float() / 255 if images.dtype == torch.uint8 else images.float()


def _show(ax, image: torch.Tensor, title: str = "") -> None:
    picture = image.permute(1, 2, 0).clamp(0, 1).numpy()  # (C, H, W) → (H, W, C)
    ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture, cmap="gray", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize="small")


def plot_views(images, config, *, off: str = "nothing", seed: int = 0, index: int = 0):
    """The two views a₁(x), a₂(x) of every image of a small batch (rows x, view 1, view 2) with the step
    ``off`` switched off, and below, view 1 of image ``index`` after each step of the recipe."""
    x = _unit(images)  # (B, C, H, W) in [0, 1]
    config = lesson.without_step(config, off)
    view1, view2 = lesson.two_views(x, config, seed=seed)
    steps = lesson.view_steps(x, config, seed=seed, index=index)
    columns = max(len(x), len(steps))
    fig, axes = plt.subplots(4, columns, figsize=(1.3 * columns, 5.6), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for row, (batch, name) in enumerate(((x, "x"), (view1, "view 1"), (view2, "view 2"))):
        for j, image in enumerate(batch):
            axes[row, j].axis("on")
            _show(axes[row, j], image, name if j == 0 else "")
    for j, (name, image) in enumerate(steps):
        axes[3, j].axis("on")
        _show(axes[3, j], image, ("then " if j > 1 else "") + name + (f" (image {index})" if j == 0 else ""))
    state = "every step on" if off in (None, "nothing") else f"{off} switched off"
    fig.suptitle(
        f"Two views of each image, {state} (seed {seed}); bottom: view 1 step by step", fontsize="medium"
    )
    return fig


def views_explorer(images, config, *, off: str = "nothing", seed: int = 0):
    """A dropdown "switch off" (nothing, or one step the recipe applies to these images) and a slider
    "seed" (new random draws) over ``plot_views``."""
    x = _unit(images)
    style = {"description_width": "initial"}
    controls = {
        "off": widgets.Dropdown(
            options=["nothing", *lesson.active_steps(config, x.shape[1])], value=off,
            description="switch off", style=style,
        ),
        "seed": widgets.IntSlider(
            value=seed, min=0, max=20, description="seed", continuous_update=False, style=style
        ),
    }  # fmt: skip
    return live_explorer(lambda off, seed: plot_views(x, config, off=off, seed=seed), controls)
